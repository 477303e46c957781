package certsource

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"
)

// indexEntry is what certgal keeps of a line of an OpenSSL CA's index.txt:
// status, expiry, revocation[,reason], serial, file name, subject — tab
// separated. The expiry and the subject are checked for form and not kept:
// the certificate itself says both. Nothing refers to the line's text, which
// a large index.txt would keep alive.
type indexEntry struct {
	Status    Status
	RevokedAt time.Time
	Reason    string
	SerialHex string // upper case, as written: SERIAL.pem is named so
	File      string
}

func parseIndexLine(line string) (indexEntry, error) {
	f, fields := indexFields(line)
	if fields != 6 {
		return indexEntry{}, fmt.Errorf("want 6 tab-separated fields, got %d", fields)
	}
	var e indexEntry
	switch f[0] {
	case "V":
		e.Status = StatusValid
	case "R":
		e.Status = StatusRevoked
	case "E":
		e.Status = StatusExpired
	default:
		return indexEntry{}, fmt.Errorf("unknown status %q", f[0])
	}
	var err error
	if _, err = parseIndexTime(f[1]); err != nil {
		return indexEntry{}, fmt.Errorf("expiry: %w", err)
	}
	if e.Status == StatusRevoked {
		date, reason, _ := strings.Cut(f[2], ",")
		if e.RevokedAt, err = parseIndexTime(date); err != nil {
			return indexEntry{}, fmt.Errorf("revocation date: %w", err)
		}
		// openssl may append a hold instruction or invalidity date after the reason.
		reason, _, _ = strings.Cut(reason, ",")
		e.Reason = strings.Clone(reason)
	} else if f[2] != "" {
		return indexEntry{}, fmt.Errorf("revocation field %q on a line that is not revoked", f[2])
	}
	s := f[3]
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !isHexDigit(r) }) >= 0 {
		return indexEntry{}, fmt.Errorf("serial %q is not hexadecimal", s)
	}
	e.SerialHex = strings.Clone(strings.ToUpper(s))
	e.File = "unknown" // what `openssl ca` writes
	if f[4] != e.File {
		e.File = strings.Clone(f[4])
	}
	return e, nil
}

// indexFields splits a line at its tabs into its first six fields, and says
// how many it has; strings.Split would allocate a slice for each line.
func indexFields(line string) (f [6]string, n int) {
	for ; n < len(f); n++ {
		i := strings.IndexByte(line, '\t')
		if i < 0 {
			f[n] = line
			return f, n + 1
		}
		f[n], line = line[:i], line[i+1:]
	}
	return f, n + strings.Count(line, "\t") + 1
}

// parseIndexTime reads ASN.1 UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime
// (YYYYMMDDHHMMSSZ), the two forms openssl writes.
func parseIndexTime(s string) (time.Time, error) {
	switch len(s) {
	case 13:
		return time.Parse("060102150405Z", s)
	case 15:
		return time.Parse("20060102150405Z", s)
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

func isHexDigit(r rune) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F'
}

// SerialHex is how certgal writes a serial number: upper-case hexadecimal
// without leading zeros, "-" before a negative one.
func SerialHex(n *big.Int) string { return strings.ToUpper(n.Text(16)) }

// canonicalSerial is SerialHex of the serial an index line writes as hex,
// which may start with zeros ("0A"): a substring, allocating nothing.
func canonicalSerial(hex string) string {
	t := strings.TrimLeft(hex, "0")
	if t == "" && hex != "" {
		return "0"
	}
	return t
}

// readIndex reads and parses index.txt at path, and returns its SHA-256 too:
// a later read compares it (quickRead).
func readIndex(path string) (sum [32]byte, entries []indexEntry, bad []badLine, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return sum, nil, nil, fmt.Errorf("openssl source: %w", err)
	}
	sum = sha256.Sum256(data)
	entries, bad, err = parseIndex(data)
	if err != nil {
		return sum, nil, nil, fmt.Errorf("openssl source: read %s: %w", path, err)
	}
	return sum, entries, bad, nil
}

// badLine is an index.txt line that does not parse.
type badLine struct {
	line int
	err  string
}

// parseIndex parses index.txt. Nothing of it is kept: a read that finds
// index.txt the same as the last (see quickRead) does not need it.
func parseIndex(data []byte) (entries []indexEntry, bad []badLine, err error) {
	entries = make([]indexEntry, 0, bytes.Count(data, []byte{'\n'})+1)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		e, err := parseIndexLine(line)
		if err != nil {
			bad = append(bad, badLine{n, err.Error()})
			continue
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	return entries, bad, nil
}
