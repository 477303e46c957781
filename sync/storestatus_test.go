package sync

import (
	"fmt"
	"testing"

	"github.com/certgal/certgal/certsource"
)

func TestStoreStatus(t *testing.T) {
	for _, size := range []int{0, 1, 1000} { // 0 and 1: the index grows
		s := newStoreStatus(size)
		want := map[[2]string]certsource.Status{}
		set := func(issuer, serial string, st certsource.Status) {
			s.set(certFields{Issuer: certsource.IssuerID(issuer), SerialHex: serial}.cert(), st)
			want[[2]string{issuer, serial}] = st
		}
		for i := range 300 {
			set("ca-1", fmt.Sprintf("%02X", i), certsource.Status(i%3))
		}
		set("ca-2", "01", certsource.StatusRevoked) // the same serial from another issuer
		set("ca-1", "05", certsource.StatusExpired) // a later status of the same certificate wins
		for k, st := range want {
			// Another Cert of the same issuer and serial (a directory value) finds it.
			got, ok := s.get(certFields{Issuer: certsource.IssuerID(k[0]), SerialHex: k[1]}.cert())
			if !ok || got != st {
				t.Errorf("size %d: get(%s, %s) = %v, %v; want %v", size, k[0], k[1], got, ok, st)
			}
		}
		for _, k := range [][2]string{{"ca-2", "02"}, {"ca-3", "01"}, {"", "01"}} {
			if _, ok := s.get(certFields{Issuer: certsource.IssuerID(k[0]), SerialHex: k[1]}.cert()); ok {
				t.Errorf("size %d: get(%s, %s) found a status the store never gave", size, k[0], k[1])
			}
		}
	}
	var empty storeStatus
	if _, ok := empty.get(certFields{Issuer: "ca-1", SerialHex: "01"}.cert()); ok {
		t.Error("an empty storeStatus found a status")
	}
}
