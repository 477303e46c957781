package config

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSecretSize guards against a *_file key pointing at a log, a device or a
// certificate bundle by mistake; a DSN or a password is far smaller.
const maxSecretSize = 64 << 10

// readSecrets fills the Secret fields from their *_file keys. Keys that
// already have an error in prior are skipped: their problem is reported.
func readSecrets(c *Config, prior Errors) Errors {
	var errs Errors
	read := func(key, path string, dst *Secret) {
		if path == "" {
			return
		}
		for _, e := range prior {
			if e.Key == key {
				return
			}
		}
		s, err := readSecretFile(path)
		if err != nil {
			errs.add(key, err.Error())
			return
		}
		*dst = s
	}
	read("directory.bind_password_file", c.Dir.BindPasswordFile, &c.Dir.BindPassword)
	// Only the selected source's DSN: the other sections are not used, and a
	// leftover path in them must not stop the daemon.
	switch c.Source.Kind {
	case "stepca":
		read("source.stepca.dsn_file", c.Source.StepCA.DSNFile, &c.Source.StepCA.DSN)
	case "cfssl":
		read("source.cfssl.dsn_file", c.Source.CFSSL.DSNFile, &c.Source.CFSSL.DSN)
	}
	return errs
}

// readSecretFile returns the file's content without one trailing newline,
// which editors and `echo` add; any other whitespace may be part of the secret.
func readSecretFile(path string) (Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSecretSize {
		return "", fmt.Errorf("%s is larger than %d bytes; is it the right file?", path, maxSecretSize)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return Secret(s), nil
}
