package adtest

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
)

// used records whether a test of this process asked for the DC (see Need).
var used atomic.Bool

// Need returns the process's DC, starting it on first use, so the tests of a
// package that need only slapd never wait for samba or its machine-wide lock.
// Without samba the test skips, or fails under CI=true. Use it with Main.
func Need(t testing.TB) *DC {
	t.Helper()
	used.Store(true)
	dc, err := Start()
	Require(t, dc, err)
	return dc
}

// Main runs the package's tests and then stops the DC if any test needed it:
// call it as the whole of TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with more to do afterwards: it returns the exit
// code rather than exiting.
func Run(m *testing.M) int {
	code := m.Run()
	if used.Load() {
		dc, _ := Start()
		if err := dc.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "adtest: stop Samba DC:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}
