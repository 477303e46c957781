package certsource

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/certgal/certgal/internal/strchunks"
)

// indexEntry is what certgal keeps of a line of an OpenSSL CA's index.txt:
// status, expiry, revocation[,reason], serial, file name, subject — tab
// separated. The expiry and the subject are checked for form and not kept:
// the certificate itself says both. Nothing refers to the line's text, which
// is the reader's buffer (parseIndex). A read holds one for each line while
// it reads the files: what few lines have, a file name and a revocation, is
// behind a pointer.
type indexEntry struct {
	SerialHex string     // upper case, as written: SERIAL.pem is named so
	more      *indexMore // nil for a line that is not revoked and names no file
	Status    Status
}

// indexMore is what few of index.txt's lines have.
type indexMore struct {
	file    string   // as written: "unknown" for none, as `openssl ca` writes
	revoked *Revoked // an R line's date and reason
}

// File is the file name the line gives, "unknown" for none.
func (e indexEntry) File() string {
	if e.more == nil {
		return unknownFile
	}
	return e.more.file
}

// Revoked is an R line's date and reason; nil for another line.
func (e indexEntry) Revoked() *Revoked {
	if e.more == nil {
		return nil
	}
	return e.more.revoked
}

// unknownFile is the file name of a line that gives none.
const unknownFile = "unknown"

func parseIndexLine(line string) (indexEntry, error) {
	return parseIndexLineIn(line, nil)
}

// parseIndexLineIn is parseIndexLine that copies the serial into serials,
// or into a string of its own when serials is nil.
func parseIndexLineIn(line string, serials *strchunks.Chunks) (indexEntry, error) {
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
		at, err := parseIndexTime(date)
		if err != nil {
			return indexEntry{}, fmt.Errorf("revocation date: %w", err)
		}
		// openssl may append a hold instruction or invalidity date after the reason.
		reason, _, _ = strings.Cut(reason, ",")
		e.more = &indexMore{file: unknownFile, revoked: &Revoked{At: at, Reason: strings.Clone(reason)}}
	} else if f[2] != "" {
		return indexEntry{}, fmt.Errorf("revocation field %q on a line that is not revoked", f[2])
	}
	s := f[3]
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !isHexDigit(r) }) >= 0 {
		return indexEntry{}, fmt.Errorf("serial %q is not hexadecimal", s)
	}
	e.SerialHex = serials.String(strings.ToUpper(s))
	if f[4] != unknownFile {
		if e.more == nil {
			e.more = &indexMore{}
		}
		e.more.file = strings.Clone(f[4])
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
// a later read compares it (quickRead). hint is how many lines it is likely
// to have, 0 when not known.
func readIndex(path string, hint int) (sum [32]byte, entries []indexEntry, bad []badLine, err error) {
	f, err := os.Open(path)
	if err != nil {
		return sum, nil, nil, fmt.Errorf("openssl source: %w", err)
	}
	defer f.Close()
	if hint == 0 {
		if st, err := f.Stat(); err == nil {
			hint = int(st.Size() / indexLineLen)
		}
	}
	h := sha256.New()
	entries, bad, err = parseIndex(io.TeeReader(f, h), hint)
	if err != nil {
		return sum, nil, nil, fmt.Errorf("openssl source: read %s: %w", path, err)
	}
	return [32]byte(h.Sum(nil)), entries, bad, nil
}

// indexLineLen is about the shortest line `openssl ca` writes: a status, a
// date, a serial, "unknown" and a subject of a few characters.
const indexLineLen = 64

// badLine is an index.txt line that does not parse.
type badLine struct {
	line int
	err  string
}

// parseIndex parses index.txt as it streams from r, room made for hint
// lines. Neither the text nor a copy of it is held: index.txt is a large
// file, read while a pass holds its data, and a read that finds it the same
// as the last (see quickRead) does not need it.
func parseIndex(r io.Reader, hint int) (entries []indexEntry, bad []badLine, err error) {
	entries = make([]indexEntry, 0, hint)
	var serials strchunks.Chunks
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		b := bytes.TrimSuffix(sc.Bytes(), []byte{'\r'})
		if len(b) == 0 {
			continue
		}
		// The line is read where the scanner holds it, until its next Scan:
		// parseIndexLine copies what it keeps, and its error is made a
		// string here, at once.
		e, err := parseIndexLineIn(unsafe.String(unsafe.SliceData(b), len(b)), &serials)
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
