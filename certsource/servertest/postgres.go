package servertest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/certgal/certgal/internal/testserver"
)

// Postgres is a running private PostgreSQL cluster on 127.0.0.1.
type Postgres struct {
	Host     string // 127.0.0.1
	Port     string
	Password string // of the superuser postgres
	PID      int    // the postmaster's PID
	Dir      string // start.sh's DIR: env and one NAME.env per database
}

// DB is a database made by CreateDB: its owner writes (the CA), its _ro role only reads (certgal).
type DB struct {
	Name      string
	WriterDSN string // the owner, for the CA
	RODSN     string // SELECT only, default_transaction_read_only = on
	RO        string // the read-only role's name
}

// StartPostgres starts a cluster for t and stops it (by PID) when t ends. Start with
// testdata/postgres/start.sh, which installs Debian's postgresql when it is missing (as root).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	dir := t.TempDir()
	// Registered first: a half-started cluster is stopped too.
	t.Cleanup(func() { testserver.StopScript(t, "postgres", dir) })
	testserver.Script(t, 5*time.Minute, []string{"PG_OWNER_PID=" + strconv.Itoa(os.Getpid())}, "postgres", "start.sh", dir)
	vars := testserver.ReadEnv(t, filepath.Join(dir, "env"), "PG_HOST", "PG_PORT", "PG_PASSWORD", "PG_PID")
	pid, err := strconv.Atoi(vars["PG_PID"])
	if err != nil {
		t.Fatalf("servertest: PG_PID %q", vars["PG_PID"])
	}
	return &Postgres{Host: vars["PG_HOST"], Port: vars["PG_PORT"], Password: vars["PG_PASSWORD"], PID: pid, Dir: dir}
}

// CreateDB creates database name with a writer role name and a read-only role name_ro.
func (p *Postgres) CreateDB(t testing.TB, name string) *DB {
	t.Helper()
	testserver.Script(t, time.Minute, nil, "postgres", "createdb.sh", p.Dir, name)
	vars := testserver.ReadEnv(t, filepath.Join(p.Dir, name+".env"), "DB_WRITER_DSN", "DB_RO_DSN", "DB_RO")
	return &DB{Name: name, WriterDSN: vars["DB_WRITER_DSN"], RODSN: vars["DB_RO_DSN"], RO: vars["DB_RO"]}
}

// Stop stops the cluster now (it is stopped when t ends anyway), to test a database that is down.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	testserver.StopScript(t, "postgres", p.Dir)
}
