package main

import (
	"testing"

	"github.com/certgal/certgal/ldapgal/adtest"
)

// The Samba AD DC starts on the first test that needs it and stops after the last.
func TestMain(m *testing.M) { adtest.Main(m) }
