package lookup

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// keyPairCheck is how often, at most, the TLS files are looked at again.
const keyPairCheck = 10 * time.Second

// keyPair is the lookup's TLS certificate, taken up again when its files are
// renewed (cert-manager, an ACME client or an admin replaces them) without a
// restart: a handshake, at most every keyPairCheck, stats both files and
// reloads them when either changed. A pair that does not load (a renewal
// half written, a key that does not match) is logged, and the one in use is
// kept until the files load again.
type keyPair struct {
	certFile, keyFile string
	log               logrus.FieldLogger
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	size  int64
	mtime time.Time
}

func stampFile(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{st.Size(), st.ModTime()}
}

// loadKeyPair loads the pair once; an error is a configuration error.
func loadKeyPair(certFile, keyFile string, log logrus.FieldLogger) (*keyPair, error) {
	k := &keyPair{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	k.stamp = [2]fileStamp{stampFile(certFile), stampFile(keyFile)}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("lookup: tls_cert_file/tls_key_file: %w", err)
	}
	k.cert, k.checked = &cert, k.now()
	return k, nil
}

// get is tls.Config.GetCertificate.
func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now := k.now(); now.Sub(k.checked) >= keyPairCheck {
		k.checked = now
		stamp := [2]fileStamp{stampFile(k.certFile), stampFile(k.keyFile)}
		if stamp != k.stamp {
			cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
			if err != nil {
				// Not remembered as seen: the next check tries again.
				k.log.WithField("error", err.Error()).Error("lookup: renewed TLS certificate does not load; serving the previous one")
			} else {
				k.cert, k.stamp = &cert, stamp
				k.log.WithField("file", k.certFile).Info("lookup: TLS certificate reloaded")
			}
		}
	}
	return k.cert, nil
}
