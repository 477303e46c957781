package adtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgal/certgal/internal/testserver"
)

// DC is a running Samba AD DC, reachable over LDAPS with a simple bind as Administrator.
type DC struct {
	URL         string // ldaps://127.0.0.1:636
	BaseDN      string // DC=corp,DC=example,DC=com
	BindDN      string // CN=Administrator,CN=Users,DC=corp,DC=example,DC=com
	BindPW      string
	CAFile      string // the CA that signed the DC's certificate
	OtherCAFile string // a CA that did not: a client trusting only it must refuse the DC
	Realm       string // CORP.EXAMPLE.COM, the Kerberos realm
	Domain      string // corp.example.com, the DNS domain
	Host        string // dc1.corp.example.com: the DC's name in DNS, its certificate and its SPN ldap/<Host>
	DNSServer   string // 127.0.0.1:10053, the DC's DNS server (see testdata/samba/dns-records.py)
	Krb5Conf    string // a krb5.conf that points at the DC's KDC
	SMBConf     string // the DC's smb.conf, for samba-tool on the same machine
	Dir         string // the DC's directory (start.sh's DIR); empty for a DC given by AD_* variables
	PID         int    // samba's PID; 0 if unknown

	external bool     // given by AD_* variables: someone else started it and stops it
	lock     *os.File // /tmp/certgal-samba.lock, held while this process runs the DC
	ouSeq    atomic.Int64
	stopOnce sync.Once
	stopErr  error
}

// LockFile serialises the test processes that use a DC: samba's ports are fixed (389, 636, 3268,
// 3269), so only one DC can run on the machine at a time, while `go test ./...` runs the test
// binaries of several packages at once. Start holds it (flock) from before it starts a DC until
// Stop has stopped it, so packages that each start a DC take turns instead of colliding. The
// kernel releases it when the holder dies.
const LockFile = "/tmp/certgal-samba.lock"

const (
	lockWait     = 15 * time.Minute // another package's whole test run may be ahead of us
	startTimeout = 5 * time.Minute  // start.sh may have to apt-get install samba first
)

// The ports are process-wide (and machine-wide), so the DC is too: one per test process, started
// on first use and shared by every test in it. That is the only package-level state here.
var (
	startOnce sync.Once
	startDC   *DC
	startErr  error
)

// Start returns this process's DC, starting it on the first call; later calls return the same
// DC (or the same error). Call it from TestMain and call Stop after m.Run.
//
// Start first takes LockFile, and keeps it until Stop: test binaries of several packages that
// use a DC take turns. Holding it, Start stops a DC that a test process which died before its
// Stop left behind (the lock file records it).
//
// When AD_URL is set, Start uses the DC those variables describe (AD_URL, AD_BASE_DN,
// AD_BIND_DN, AD_BIND_PW, AD_CA_FILE, AD_OTHER_CA_FILE, SAMBA_PID — the variables of the env
// file that testdata/samba/start.sh writes), so one DC can serve a whole `go test ./...`; it
// neither starts nor stops it. Packages still take turns: sAMAccountName is unique in the whole
// domain, so two packages adding "alice" at once would collide even in different OUs.
//
// Otherwise Start runs testdata/samba/start.sh in a new temporary directory. start.sh installs
// samba with apt-get when it is missing only if CI=true or CERTGAL_SAMBA_INSTALL=1; elsewhere a
// missing samba is an error, which Require turns into a skip.
func Start() (*DC, error) {
	startOnce.Do(func() {
		startDC, startErr = start()
		if startErr == nil {
			if startErr = startDC.probe(); startErr != nil {
				_ = startDC.Stop()
			}
		}
		if startErr != nil {
			startDC = nil
		}
	})
	return startDC, startErr
}

func start() (*DC, error) {
	lock, stale, err := acquireLock(LockFile, lockWait)
	if err != nil {
		return nil, err
	}
	dc, err := startLocked(lock, stale)
	if err != nil {
		// Close without clearing the record: whatever it names is stopped or gone by now, or,
		// if stopping it failed, the next holder should try again.
		lock.Close()
		return nil, err
	}
	dc.lock = lock
	return dc, nil
}

// Stop stops the DC that Start started, removes its directory and releases LockFile. A DC given
// by AD_* variables keeps running; only the lock is released. It is safe to call more than once.
func (dc *DC) Stop() error {
	if dc == nil {
		return nil
	}
	dc.stopOnce.Do(func() {
		if dc.external {
			releaseLock(dc.lock)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := runScript(ctx, "stop.sh", dc.Dir, nil); err != nil {
			// Keep the lock record: the next Start will try again to stop this DC.
			dc.stopErr = fmt.Errorf("stop Samba DC in %s: %w", dc.Dir, err)
			dc.lock.Close()
			return
		}
		if err := os.RemoveAll(dc.Dir); err != nil {
			dc.stopErr = fmt.Errorf("remove %s: %w", dc.Dir, err)
		}
		releaseLock(dc.lock)
	})
	return dc.stopErr
}

// Require makes t depend on the DC: it returns when Start succeeded, and otherwise fails t under
// CI=true (CI must run these tests) and skips it elsewhere, saying why.
func Require(t testing.TB, dc *DC, err error) {
	t.Helper()
	if err == nil && dc != nil {
		return
	}
	if err == nil {
		err = errors.New("no DC (was adtest.Start called in TestMain?)")
	}
	testserver.Unavailable(t, "Samba AD DC not available (CERTGAL_SAMBA_INSTALL=1 lets the harness "+
		"apt-get install samba): %v", err)
}

func startLocked(lock *os.File, stale string) (*DC, error) {
	if err := stopStale(stale); err != nil {
		return nil, err
	}
	if os.Getenv("AD_URL") != "" {
		if err := recordLock(lock, "", os.Getenv("AD_URL")); err != nil {
			return nil, err
		}
		return fromEnv(os.Getenv)
	}

	dir, err := os.MkdirTemp("", "certgal-samba-")
	if err != nil {
		return nil, err
	}
	// Record the directory before samba starts: if this process dies from here on, the next
	// Start stops what it left running.
	if err := recordLock(lock, dir, ""); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var extra []string
	if os.Getenv("CI") != "true" && os.Getenv("CERTGAL_SAMBA_INSTALL") != "1" {
		extra = append(extra, "SAMBA_NO_INSTALL=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	dc, err := startScript(ctx, dir, extra)
	if err != nil {
		// start.sh stops the samba it started when it gives up; stop.sh makes sure.
		stopCtx, stopCancel := context.WithTimeout(context.Background(), time.Minute)
		defer stopCancel()
		if stopErr := runScript(stopCtx, "stop.sh", dir, nil); stopErr != nil {
			return nil, errors.Join(err, stopErr)
		}
		os.RemoveAll(dir)
		return nil, err
	}
	return dc, nil
}

// startScript runs start.sh in dir and reads the env file it writes.
func startScript(ctx context.Context, dir string, env []string) (*DC, error) {
	if err := runScript(ctx, "start.sh", dir, env); err != nil {
		return nil, err
	}
	vars, err := testserver.ReadEnvFile(filepath.Join(dir, "env"))
	if err != nil {
		return nil, err
	}
	dc, err := fromEnv(func(k string) string { return vars[k] })
	if err != nil {
		return nil, fmt.Errorf("%s/env: %w", dir, err)
	}
	dc.external = false
	dc.Dir = dir
	return dc, nil
}

// stopStale stops the DC recorded in the lock file by a test process that died before its Stop.
// Holding the lock means nobody else is using it; stop.sh signals it only if its recorded PID
// is still that DC's samba.
func stopStale(dir string) error {
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "samba.pid")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := runScript(ctx, "stop.sh", dir, nil); err != nil {
			return fmt.Errorf("stop the DC a previous test run left in %s: %w", dir, err)
		}
	}
	if strings.HasPrefix(filepath.Base(dir), "certgal-samba-") {
		os.RemoveAll(dir)
	}
	return nil
}

func fromEnv(getenv func(string) string) (*DC, error) {
	dc := &DC{
		URL:         getenv("AD_URL"),
		BaseDN:      getenv("AD_BASE_DN"),
		BindDN:      getenv("AD_BIND_DN"),
		BindPW:      getenv("AD_BIND_PW"),
		CAFile:      getenv("AD_CA_FILE"),
		OtherCAFile: getenv("AD_OTHER_CA_FILE"),
		Realm:       getenv("AD_REALM"),
		Domain:      getenv("AD_DOMAIN"),
		Host:        getenv("AD_HOST"),
		DNSServer:   getenv("AD_DNS_SERVER"),
		Krb5Conf:    getenv("AD_KRB5_CONF"),
		SMBConf:     getenv("AD_SMB_CONF"),
		external:    true,
	}
	for name, v := range map[string]string{
		"AD_URL": dc.URL, "AD_BASE_DN": dc.BaseDN, "AD_BIND_DN": dc.BindDN,
		"AD_BIND_PW": dc.BindPW, "AD_CA_FILE": dc.CAFile,
	} {
		if v == "" {
			return nil, fmt.Errorf("%s is not set", name)
		}
	}
	if s := getenv("SAMBA_PID"); s != "" {
		pid, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("SAMBA_PID=%q: %w", s, err)
		}
		dc.PID = pid
	}
	return dc, nil
}

// probe binds once, so that a DC that cannot be used is reported by Start rather than by every
// test.
func (dc *DC) probe() error {
	conn, err := dc.Dial(dc.CAFile)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Bind(dc.BindDN, dc.BindPW); err != nil {
		return fmt.Errorf("bind %s to %s: %w", dc.BindDN, dc.URL, err)
	}
	return nil
}

// runScript runs testdata/samba/NAME DIR. A failure's error carries the script's output (the
// samba log, on a start that timed out), so a failed start explains itself.
func runScript(ctx context.Context, name, dir string, env []string) error {
	script, err := testserver.ScriptPath("samba", name)
	if err != nil {
		return err
	}
	stdout, stderr, err := testserver.RunScript(ctx, append(os.Environ(), env...), script, dir)
	if err != nil {
		msg := strings.TrimSpace(stdout + "\n" + stderr)
		if len(msg) > 4000 {
			msg = "…" + msg[len(msg)-4000:]
		}
		return fmt.Errorf("%s %s: %w\n%s", script, dir, err, msg)
	}
	return nil
}
