package ldapgal

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/certgal/certgal/ldapgal/adtest"
)

// dcUsed records whether a test asked for the Samba DC: it is started on first
// use, so a run of the slapd tests alone never waits for the DC lock.
var dcUsed atomic.Bool

// needDC returns the shared Samba AD DC, starting it on first use; without
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
			fmt.Fprintln(os.Stderr, "ldapgal: stop Samba DC:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}
