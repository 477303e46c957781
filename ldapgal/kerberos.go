package ldapgal

import (
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
)

// kerberos is the Kerberos client of a directory bound with GSSAPI: one per
// Client, shared by its connections, so that one ticket-granting ticket and
// one service ticket per DC serve every bind.
//
// Tickets expire (AD's default: 10 hours). gokrb5 renews the TGT in the
// background at five sixths of its life and, when it can no longer be
// renewed, logs in again with the keytab; before each service ticket it asks
// for, it checks the TGT and logs in again if the TGT is in its last sixth or
// gone. A service ticket in its cache is used until it ends. So a daemon that
// runs for days binds with fresh tickets without being restarted, and a
// keytab replaced on disk is read by the next Open (a reload).
type kerberos struct {
	principal string
	client    *client.Client
	logw      io.Closer // gokrb5's log, into the logger
}

// newKerberos reads the keytab and krb5.conf and logs in once, so that a
// wrong keytab, principal or KDC is reported by Open rather than by a pass.
func newKerberos(cfg config.Directory, logger logrus.FieldLogger) (*kerberos, error) {
	confPath := cfg.KRB5Conf()
	conf, err := krbconfig.Load(confPath)
	if err != nil {
		return nil, fmt.Errorf("directory.krb5_conf_file %s: %w", confPath, err)
	}
	kt, err := keytab.Load(cfg.KeytabFile)
	if err != nil {
		return nil, fmt.Errorf("directory.keytab_file %s: %w", cfg.KeytabFile, err)
	}
	name, realm, _ := strings.Cut(cfg.Principal, "@")
	if realm == "" {
		realm = conf.LibDefaults.DefaultRealm
	}
	// gokrb5 reports its renewals and logins through a *log.Logger.
	w := logger.WithField("principal", cfg.Principal).WriterLevel(logrus.DebugLevel)
	cl := client.NewWithKeytab(name, realm, kt, conf,
		client.Logger(log.New(w, "", 0)),
		// AD rejects PA-FX-FAST from a client that has no armor ticket.
		client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		cl.Destroy()
		w.Close()
		return nil, fmt.Errorf("kerberos login as %s: %w", cfg.Principal, err)
	}
	return &kerberos{principal: name + "@" + realm, client: cl, logw: w}, nil
}

// close ends the background renewal and forgets the tickets.
func (k *kerberos) close() {
	if k != nil {
		k.client.Destroy()
		k.logw.Close()
	}
}
