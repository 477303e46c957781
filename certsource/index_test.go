package certsource

import (
	"crypto/sha256"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseIndexLine(t *testing.T) {
	tests := []struct {
		line    string
		want    indexEntry
		wantErr string
	}{
		{line: "V\t271125120000Z\t\t1000\tunknown\t/CN=alice",
			want: indexEntry{Status: StatusValid, SerialHex: "1000"}},
		{line: "R\t271125120000Z\t261101093000Z,keyCompromise\t1A2b\tunknown\t/CN=bob",
			want: indexEntry{Status: StatusRevoked, more: &indexMore{file: "unknown", revoked: &Revoked{At: time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC), Reason: "keyCompromise"}}, SerialHex: "1A2B"}},
		{line: "R\t20501125120000Z\t261101093000Z\t01\tunknown\t/CN=c",
			want: indexEntry{Status: StatusRevoked, more: &indexMore{file: "unknown", revoked: &Revoked{At: time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC)}}, SerialHex: "01"}},
		{line: "R\t271125120000Z\t261101093000Z,certificateHold,holdInstructionReject\t02\tunknown\t/CN=d",
			want: indexEntry{Status: StatusRevoked, more: &indexMore{file: "unknown", revoked: &Revoked{At: time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC), Reason: "certificateHold"}}, SerialHex: "02"}},
		{line: "E\t201125120000Z\t\t03\tunknown\t/CN=e",
			want: indexEntry{Status: StatusExpired, SerialHex: "03"}},
		{line: "V 271125120000Z 1000 unknown /CN=x", wantErr: "want 6 tab-separated fields, got 1"},
		{line: "V\t271125120000Z\t\t1000\tunknown", wantErr: "want 6 tab-separated fields, got 5"},
		{line: "V\t271125120000Z\t\t1000\tunknown\t/CN=x\t", wantErr: "want 6 tab-separated fields, got 7"},
		{line: "V\t271125120000Z\t\t1000\tunknown\t/CN=x\tmore\tand more", wantErr: "want 6 tab-separated fields, got 8"},
		{line: "X\t271125120000Z\t\t1000\tunknown\t/CN=x", wantErr: `unknown status "X"`},
		{line: "V\t2711251200Z\t\t1000\tunknown\t/CN=x", wantErr: `expiry: bad time "2711251200Z"`},
		{line: "V\t271125120000Z\t\tXYZ\tunknown\t/CN=x", wantErr: `serial "XYZ" is not hexadecimal`},
		{line: "V\t271125120000Z\t\t-10\tunknown\t/CN=x", wantErr: `serial "-10" is not hexadecimal`},
		{line: "V\t271125120000Z\t\t\tunknown\t/CN=x", wantErr: `serial "" is not hexadecimal`},
		{line: "R\t271125120000Z\t\t10\tunknown\t/CN=x", wantErr: `revocation date: bad time ""`},
		{line: "V\t271125120000Z\t261101093000Z\t10\tunknown\t/CN=x", wantErr: `revocation field "261101093000Z" on a line that is not revoked`},
	}
	for _, tc := range tests {
		got, err := parseIndexLine(tc.line)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("parseIndexLine(%q) error = %v, want %q", tc.line, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseIndexLine(%q): %v", tc.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseIndexLine(%q) =\n%+v\nwant\n%+v", tc.line, got, tc.want)
		}
	}
}

// TestReadIndex: index.txt streams through the parser and its hash; CRLF
// line ends and blank lines are as good as none, and a bad line is reported
// by its number.
func TestReadIndex(t *testing.T) {
	data := "V\t271125120000Z\t\t1000\tunknown\t/CN=alice\r\n" +
		"\n" +
		"V 271125120000Z 1000 unknown /CN=x\n" +
		"R\t271125120000Z\t261101093000Z,keyCompromise\t1A2b\tunknown\t/CN=bob"
	path := filepath.Join(t.TempDir(), "index.txt")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, hint := range []int{0, 1, 100} {
		sum, entries, bad, err := readIndex(path, hint)
		if err != nil {
			t.Fatal(err)
		}
		if sum != sha256.Sum256([]byte(data)) {
			t.Errorf("hint %d: sum is not index.txt's SHA-256", hint)
		}
		if len(entries) != 2 || entries[0].SerialHex != "1000" || entries[1].SerialHex != "1A2B" || entries[1].Revoked().Reason != "keyCompromise" {
			t.Errorf("hint %d: entries %+v", hint, entries)
		}
		if len(bad) != 1 || bad[0].line != 3 || bad[0].err != "want 6 tab-separated fields, got 1" {
			t.Errorf("hint %d: bad lines %+v", hint, bad)
		}
	}
	if _, _, _, err := readIndex(filepath.Join(t.TempDir(), "none"), 0); !os.IsNotExist(errors.Unwrap(err)) {
		t.Errorf("missing index.txt: %v", err)
	}
}

func FuzzParseIndexLine(f *testing.F) {
	f.Add("V\t271125120000Z\t\t1000\tunknown\t/CN=alice")
	f.Add("R\t271125120000Z\t261101093000Z,keyCompromise\t1A2b\tunknown\t/CN=bob")
	f.Add("E\t20201125120000Z\t\t03\tnewcerts/03.pem\t/CN=e")
	f.Add("V\t\t\t\t\t")
	f.Fuzz(func(t *testing.T, line string) {
		e, err := parseIndexLine(line)
		if err != nil {
			return
		}
		if _, ok := new(big.Int).SetString(e.SerialHex, 16); !ok || e.SerialHex == "" || e.SerialHex[0] == '-' {
			t.Fatalf("accepted %q with serial %q", line, e.SerialHex)
		}
		if e.Status == StatusRevoked && (e.Revoked() == nil || e.Revoked().At.IsZero()) {
			t.Fatalf("revoked line %q without a date", line)
		}
	})
}
