package ldapgal

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jcmturner/gokrb5/v8/krberror"
)

func TestKerberosRefusedByKDC(t *testing.T) {
	// As gokrb5 reports a TGT renewal the KDC refused: its KDC error wrapped
	// in the renewal's own.
	refused := krberror.Errorf(krberror.NewErrorf(krberror.KDCError, "TGS Exchange Error: KRB Error: (32) KRB_AP_ERR_TKT_EXPIRED Ticket expired"),
		krberror.KRBMsgError, "error renewing TGT for %s", "CORP.EXAMPLE.COM")
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"refused by the KDC", refused, true},
		{"refused, wrapped", fmt.Errorf("bind: %w", refused), true},
		{"KDC out of reach", krberror.NewErrorf(krberror.NetworkingError, "TGS Exchange Error: issue sending TGS_REQ to KDC"), false},
		{"not gokrb5's", errors.New("connection reset"), false},
	} {
		if got := refusedByKDC(tt.err); got != tt.want {
			t.Errorf("%s: refusedByKDC(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
