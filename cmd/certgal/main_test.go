package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/certgal/certgal/ldapgal/adtest"
)

// dcUsed records whether a test asked for the Samba AD DC. The DC starts on
// first use (adtest.Start is once per process), so the tests of this package
// that need only slapd never wait for samba or its machine-wide lock.
var dcUsed atomic.Bool

// needDC returns the process's Samba AD DC, starting it on first use. Without
// samba the test skips, or fails under CI=true.
func needDC(t *testing.T) *adtest.DC {
	t.Helper()
	dcUsed.Store(true)
	dc, err := adtest.Start()
	adtest.Require(t, dc, err)
	return dc
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dcUsed.Load() {
		dc, _ := adtest.Start()
		if err := dc.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "certgal tests: stop Samba DC:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}
