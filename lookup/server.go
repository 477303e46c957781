package lookup

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
)

// Server timeouts and limits. A lookup request is a short GET; nothing legitimate needs more.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 10 * time.Second
)

// Server is the lookup service. Build it with NewServer, give it an index with Swap after
// every successful pass, and run it with ListenAndServe. It is safe for concurrent use.
type Server struct {
	cfg     config.Lookup
	log     logrus.FieldLogger
	metrics *metrics
	clients *clients
	proxies proxies
	index   atomic.Pointer[Index]
	page    *page
	handler http.Handler
	bufs    stdsync.Pool // *[]byte, for the PEM and JSON bodies rendered per request
}

// NewServer builds the service for cfg (the lookup section). Its metrics are registered on
// reg. Until the first Swap, certificate requests answer 503: an empty index would tell
// senders that nobody has a certificate. A rate_per_second of 0 or less (which
// configuration validation refuses) means no limit.
func NewServer(cfg config.Lookup, reg prometheus.Registerer, log logrus.FieldLogger) *Server {
	s := &Server{
		cfg:     cfg,
		log:     log.WithField("component", "lookup"),
		metrics: newMetrics(reg),
		clients: newClients(cfg.RatePerSecond, max(cfg.Burst, 1), defaultMaxClients),
		page:    newPage(),
		bufs:    stdsync.Pool{New: func() any { return new([]byte) }},
	}
	for _, p := range cfg.TrustedProxies {
		// Validated with the configuration; an entry that does not parse trusts nobody.
		if prefix, err := config.ParseProxy(p); err == nil {
			s.proxies = append(s.proxies, prefix)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/certs/{email}", s.endpoint(epCerts, s.serveCerts))
	mux.Handle("/search.cgi", s.endpoint(epSearch, s.serveSearch))
	mux.Handle("/{$}", s.endpoint(epPage, s.page.serveIndex))
	mux.Handle("/static/{file}", s.endpoint(epPage, s.page.serveStatic))
	mux.Handle("/", s.endpoint(epOther, serveNotFound))
	s.handler = mux
	return s
}

// Swap makes ix the index every following request is answered from. Requests already being
// answered finish with the index they started with. A nil ix puts the service back to 503.
func (s *Server) Swap(ix *Index) {
	s.index.Store(ix)
	if ix == nil {
		return
	}
	st := ix.Stats()
	s.log.WithFields(logrus.Fields{"addresses": st.Addresses, "certificates": st.Certificates,
		"reused": st.Reused, "unparseable": st.Unparseable, "ambiguous": st.Ambiguous}).Debug("lookup index swapped")
}

// Current is the index being served; nil before the first Swap. Rebuild from it to reuse
// its work.
func (s *Server) Current() *Index { return s.index.Load() }

// Handler serves the lookup endpoints (for tests, or to mount behind another server).
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on cfg.Listen (with TLS when tls_cert_file is set) and serves until
// ctx ends, then shuts down gracefully. An empty listen address disables the service: it
// returns nil at once.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if s.cfg.Listen == "" {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on a listener the caller opened; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(serverLog{s.log}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	tlsOn := s.cfg.TLSCertFile != ""
	if tlsOn {
		pair, err := loadKeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile, s.log)
		if err != nil {
			ln.Close()
			return err
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: pair.get}
	}
	errc := make(chan error, 1)
	go func() {
		if tlsOn {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log.WithFields(logrus.Fields{"listen": ln.Addr().String(), "tls": tlsOn}).Info("lookup service listening")

	select {
	case err := <-errc:
		return fmt.Errorf("lookup: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("lookup: shutdown: %w", err)
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("lookup: %w", serr)
	}
	s.log.Info("lookup service stopped")
	return err
}

// serverLog sends net/http's own complaints to the logger; a client failing its TLS
// handshake is the client's problem.
type serverLog struct{ log logrus.FieldLogger }

func (l serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		l.log.Debug(msg)
	} else {
		l.log.Warn(msg)
	}
	return len(p), nil
}
