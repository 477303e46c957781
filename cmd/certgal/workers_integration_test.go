package main

import (
	"context"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/ldapgal"
	"github.com/certgal/certgal/sync"
)

// A pass writes on as many connections as the dialect the rootDSE names
// says: AD's on Samba, OpenLDAP's on slapd (dialect auto in both).
func TestADWireWritesOnTheDialectsConnections(t *testing.T) {
	ad, ol := newADWorld(t), newWorld(t)
	for _, c := range []struct{ server, config, dialect string }{
		{"Samba", ad.writeConfig(), ldapgal.DialectAD},
		{"slapd", ol.writeConfig(), ldapgal.DialectOpenLDAP},
	} {
		cfg, ok := loadConfig(c.config, io.Discard)
		if !ok {
			t.Fatalf("%s: configuration", c.server)
		}
		log, _ := logtest.NewNullLogger()
		p, err := newPipeline(context.Background(), cfg, log, sync.NewMetrics(prometheus.NewRegistry()))
		if err != nil {
			t.Fatalf("%s: %v", c.server, err)
		}
		want, err := ldapgal.DialectByName(c.dialect)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.dir.Dialect().Name; got != c.dialect {
			t.Errorf("%s: dialect %s, want %s", c.server, got, c.dialect)
		}
		if p.syncer.Workers != want.Workers || want.Workers < 1 {
			t.Errorf("%s: %d write connections, want the %s dialect's %d", c.server, p.syncer.Workers, c.dialect, want.Workers)
		}
		p.Close()
	}
}
