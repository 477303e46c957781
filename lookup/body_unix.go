//go:build !windows

package lookup

import "os"

// createBodyFile creates the certificates' file in dir and unlinks it at once: only the
// descriptor holds it, so a crash leaves nothing behind.
func createBodyFile(dir string) (*os.File, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	f, err := os.CreateTemp(dir, "certgal-lookup-*.bin")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
