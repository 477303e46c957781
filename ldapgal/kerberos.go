package ldapgal

import (
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	gosync "sync"

	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
)

// kerberos is the Kerberos client of a directory bound with GSSAPI: one per
// Client, shared by its connections, so that one ticket-granting ticket and
// one service ticket per DC serve every bind.
//
// Tickets expire (AD's default: 10 hours). gokrb5 refreshes the TGT in the
// background at five sixths of its life, and before each service ticket it
// asks for when the TGT is in its last sixth or gone: it renews a renewable
// TGT (krb5.conf's renew_lifetime) until its renew-till, and logs in again
// with the keytab otherwise. A service ticket in its cache is used until it
// ends. What gokrb5 does not do, serviceTicket does: log in again when the
// KDC refuses the TGT. So a daemon that runs for days binds with fresh
// tickets without being restarted, and a keytab replaced on disk is read by
// the next Open (a reload).
type kerberos struct {
	principal string
	client    *client.Client
	log       logrus.FieldLogger
	logw      io.Closer // gokrb5's log, into the logger

	relogin gosync.Mutex // one login again at a time, not one per bind
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
	principal := name + "@" + realm
	return &kerberos{principal: principal, client: cl, log: logger.WithField("principal", principal), logw: w}, nil
}

// serviceTicket makes sure the client holds a ticket for spn (the bind's
// InitSecContext then takes it from the cache), logging in again with the
// keytab, once, when the KDC refuses the request.
//
// gokrb5 keeps renewing a renewable TGT that it failed to renew before it
// ended, and the KDC refuses every renewal of an expired ticket, until the
// renew-till, days later: the daemon could not bind for that long after the
// KDC was unreachable for the TGT's last sixth. Samba also refuses any TGT
// in its last two minutes (it could be a two-minute kpasswd ticket), which
// a short TGT reaches before gokrb5 refreshes it. A fresh login from the
// keytab is the remedy for both, and costs one AS exchange.
func (k *kerberos) serviceTicket(spn string) error {
	_, _, err := k.client.GetServiceTicket(spn)
	if err == nil || !refusedByKDC(err) {
		return err
	}
	k.relogin.Lock()
	defer k.relogin.Unlock()
	// Another bind may have logged in while this one waited.
	if _, _, err = k.client.GetServiceTicket(spn); err == nil || !refusedByKDC(err) {
		return err
	}
	k.log.WithError(err).Info("the KDC refused the ticket-granting ticket; logging in again with the keytab")
	if lerr := k.client.Login(); lerr != nil {
		return fmt.Errorf("kerberos login again as %s: %w (after %w)", k.principal, lerr, err)
	}
	_, _, err = k.client.GetServiceTicket(spn)
	return err
}

// refusedByKDC tells whether the KDC answered err, rather than being out of
// reach: only then can a new TGT help.
func refusedByKDC(err error) bool {
	var kerr krberror.Krberror
	return errors.As(err, &kerr) && kerr.RootCause == krberror.KDCError
}

// close ends the background renewal and forgets the tickets.
func (k *kerberos) close() {
	if k != nil {
		k.client.Destroy()
		k.logw.Close()
	}
}
