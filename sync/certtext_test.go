package sync

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCertTextRoundTrip: a Cert's text gives back the serial and the
// addresses it was made of, empty ones and long ones (a length of more than
// one byte) too, and validText takes it whole.
func TestCertTextRoundTrip(t *testing.T) {
	long := strings.Repeat("a", 300) + "@corp.example"
	for _, tc := range []struct {
		serial string
		emails []string
	}{
		{"", nil},
		{"0A", nil},
		{"-5", []string{""}},
		{"1001D662", []string{"alice@corp.example", "Alice.Smith@corp.example"}},
		{strings.Repeat("F", 200), []string{long, "", "b@corp.example"}},
	} {
		c := &Cert{text: certText(tc.serial, tc.emails...)}
		if got := slices.Collect(c.Emails()); c.SerialHex() != tc.serial || !slices.Equal(got, tc.emails) {
			t.Errorf("%q %q: read back %q %q", tc.serial, tc.emails, c.SerialHex(), got)
		}
		want := ""
		if len(tc.emails) > 0 {
			want = tc.emails[0]
		}
		if c.FirstEmail() != want {
			t.Errorf("%q: FirstEmail %q, want %q", tc.emails, c.FirstEmail(), want)
		}
		if !validText(c.text) {
			t.Errorf("%q %q: validText refuses its text", tc.serial, tc.emails)
		}
		// Cut inside its last string, a text is no text.
		if last := append([]string{tc.serial}, tc.emails...)[len(tc.emails)]; last != "" && validText(c.text[:len(c.text)-1]) {
			t.Errorf("%q %q: validText takes its text cut short", tc.serial, tc.emails)
		}
	}
}

// TestCertTimesRoundTrip: Cert.times holds every time x509 parses, the
// years 0 to 9999, and refuses what it cannot hold.
func TestCertTimesRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(-1, 0),
		time.Unix(0, 0),
		now,
		time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	} {
		var c Cert
		if !c.setTimes(tm.Unix(), -tm.Unix()) || c.notBefore() != tm.Unix() || c.notAfter() != -tm.Unix() {
			t.Errorf("%v: read back %d, %d", tm, c.notBefore(), c.notAfter())
		}
	}
	var c Cert
	if c.setTimes(maxCertTime+1, 0) || c.setTimes(0, -maxCertTime-1) || !c.setTimes(maxCertTime, -maxCertTime) {
		t.Error("setTimes takes a time it cannot hold, or refuses one it can")
	}
}
