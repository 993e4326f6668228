// Package sqlitestore is a SQLite taskflow store: durable jobs in one file,
// with no server to run. It passes the whole storage conformance suite
// (package storagetest) and implements every optional interface that
// pgstore does, on a pure-Go driver (github.com/ncruces/go-sqlite3, no
// cgo), so `go build` works everywhere.
//
//	store, err := sqlitestore.Open(ctx, "/var/lib/app/jobs.db")
//	...
//	defer store.Close()
//
// or, through a store URL, taskflow.Open(ctx, "sqlite:///var/lib/app/jobs.db").
//
// # One writer, group commit
//
// Every change goes through one goroutine, the writer, that holds the
// store's only write connection. Calls hand it their work and wait; the
// writer takes every call that is waiting (up to a batch), runs them in one
// transaction and commits once. When one call fails, the transaction is
// run again with each call in a savepoint of its own, so that the failing
// call changes nothing and the others are unaffected. Under load, creates,
// fetches and completions of many workers share one commit. A call whose
// context ends while it waits fails with the context's error if the
// writer has not started it yet; once started, it returns what it did, so
// that no fetch leases jobs its caller never learns of. Reads (Get,
// List, Count, ...) run on a pool of read-only connections, concurrently
// with the writer: the file is in WAL mode.
//
// # Transactional enqueue
//
// [Store.WithTx] returns a store bound to the caller's transaction on the
// same file: jobs created through it exist if and only if that
// transaction commits, with the caller's own rows.
//
// # Several processes on one file
//
// Any number of processes may open one file: workers, the taskflow
// command, the dashboard. Write transactions start with BEGIN IMMEDIATE
// and wait for each other (busy_timeout, then a retry until the call's
// context is done), so "database is locked" never reaches a caller. A
// transaction that changes a topic (jobs enqueued, scheduled, finished,
// recurring definitions) bumps that topic's counter; a store with
// subscribers polls PRAGMA data_version every few milliseconds (see
// [WithPollInterval]) and, when another connection committed, reads the
// counters and wakes the subscribers of the topics that moved. A job
// enqueued in one process wakes a worker in another within the poll
// interval.
//
// # Durability
//
// The file is in WAL mode with synchronous=NORMAL by default: a committed
// call survives the crash of its process (SIGKILL included) at once, and
// the file is never corrupted, even by a power loss; a power loss or an
// operating system crash may undo the transactions committed since the
// last checkpoint of the WAL. With [WithSynchronous]("FULL") every commit
// is flushed to disk before the call returns, so it survives a power loss
// too, at the cost of an fsync per group commit.
//
// # Schema
//
// [Open] creates the tables, or upgrades them, from migrations embedded in
// the package (up and down, see [MigrateTo]); the schema version is the
// file's user_version. A file at a newer version than this package knows
// is refused with [ErrSchemaTooNew], and so is every call of a running
// store once another, newer, taskflow has upgraded the file under it: two
// taskflow versions never write one file with different ideas of its
// tables.
//
// # Tables
//
// A job is one row of table jobs, which holds its current state: Create
// stores up to 32 jobs per INSERT, and each change of state is one UPDATE
// of that row, whose statements reach rows by primary key or a partial
// index (see migrations/). The two states a job left last are kept in its
// row, and the older ones are rows of table job_history, which a trigger
// appends to as the UPDATE changes the job's state: a job created,
// fetched and finished writes no row there.
//
// # Choice of driver
//
// Of the two pure-Go drivers, modernc.org/sqlite v1.62.0 (SQLite
// translated from C to Go) and github.com/ncruces/go-sqlite3 v0.37.0
// (SQLite compiled to WebAssembly, then translated to Go), the same loop
// (bulk inserts of 500 rows; claims of 100 rows with UPDATE ... RETURNING,
// each completed by a prepared UPDATE) cost the same CPU on the
// development machine: 3.3–3.7 µs a row inserted, 9.3–9.8 µs a row
// claimed and completed, both drivers, two rounds each (wall-clock rates
// of the same runs varied tenfold on that shared machine, so CPU time is
// the measure; see docs/PERFORMANCE.md). With no difference in cost,
// ncruces is used: its errors carry SQLite's extended codes for errors.Is
// (busy, read-only, not a database, which constraint failed).
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" database/sql driver

	"github.com/taskflow-go/taskflow/storage"
)

var (
	_ storage.Store         = (*Store)(nil)
	_ storage.Notifier      = (*Store)(nil)
	_ storage.Lister        = (*Store)(nil)
	_ storage.Pruner        = (*Store)(nil)
	_ storage.Peeker        = (*Store)(nil)
	_ storage.UniqueKeys    = (*Store)(nil)
	_ storage.Continuations = (*Store)(nil)
	_ storage.Batches       = (*Store)(nil)
	_ storage.BatchLister   = (*Store)(nil)
	_ storage.Recurring     = (*Store)(nil)
	_ storage.FlowControl   = (*Store)(nil)
	_ storage.HeldCounter   = (*Store)(nil)
	_ storage.Locker        = (*Store)(nil)
	_ storage.Workers       = (*Store)(nil)
	_ storage.Queues        = (*Store)(nil)
	_ storage.Statistics    = (*Store)(nil)
	_ storage.JobLogs       = (*Store)(nil)
	_ storage.TxBound       = (*Store)(nil)
	_ storage.Estimator     = (*Store)(nil)
)

// Errors of [Open]; each names the file and what is wrong with it.
var (
	// ErrNoDirectory means the file's directory does not exist.
	ErrNoDirectory = errors.New("sqlitestore: directory does not exist")
	// ErrReadOnly means the file (or its directory, where SQLite keeps
	// the WAL) cannot be written.
	ErrReadOnly = errors.New("sqlitestore: database is read-only")
	// ErrNotDatabase means the file exists but is not a SQLite database.
	ErrNotDatabase = errors.New("sqlitestore: file is not a SQLite database")
	// ErrSchemaTooNew means a newer taskflow migrated the file to a
	// schema version this package does not know.
	ErrSchemaTooNew = errors.New("sqlitestore: schema is newer than this taskflow")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("sqlitestore: store closed")
)

// Option configures [Open].
type Option func(*config)

type config struct {
	synchronous string
	poll        time.Duration
	batch       int
	readers     int
	migrate     bool
	walk        bool // fair fetches always walk the partitions (tests)
}

// WithSynchronous sets PRAGMA synchronous: "NORMAL" (the default) or
// "FULL" (see Durability in the package documentation).
func WithSynchronous(mode string) Option { return func(c *config) { c.synchronous = mode } }

// WithPollInterval sets how often a store with subscribers checks whether
// another process changed the file (default 5ms): the bound on a wake-up
// across processes.
func WithPollInterval(d time.Duration) Option { return func(c *config) { c.poll = d } }

// WithoutMigrate makes [Open] fail with an error wrapping [ErrNotMigrated]
// on a file whose schema is missing or old, instead of migrating it.
func WithoutMigrate() Option { return func(c *config) { c.migrate = false } }

// ErrNotMigrated means the file's schema is missing or older than this
// package needs, and [WithoutMigrate] kept Open from migrating it.
var ErrNotMigrated = errors.New("sqlitestore: schema not migrated")

// Store is a SQLite [storage.Store] that implements every optional
// interface pgstore does. It is safe for concurrent use, by any number of
// processes on one file. Create one with [Open]; Close it when done.
type Store struct {
	*core
	tx *sql.Tx // set by WithTx
}

// core is what a Store shares with the stores WithTx derives from it.
type core struct {
	path    string
	cfg     config
	writeDB *sql.DB
	readDB  *sql.DB

	ops     chan *op
	stop    chan struct{}
	stopped chan struct{}
	closeMu sync.Once

	subs subscribers
}

// Open opens (creating it if needed) the database file at path and
// returns a store on it, with the schema migrated to the version this
// package needs. The directory must exist.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{synchronous: "NORMAL", poll: 5 * time.Millisecond, batch: 256, readers: max(4, runtime.NumCPU()), migrate: true}
	for _, o := range opts {
		o(&cfg)
	}
	switch strings.ToUpper(cfg.synchronous) {
	case "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlitestore: synchronous %q: want NORMAL, FULL or EXTRA", cfg.synchronous)
	}
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("sqlitestore: a file path is needed (use package memstore for jobs in memory)")
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s (for %s)", ErrNoDirectory, filepath.Dir(path), path)
	}
	s := &Store{core: &core{path: path, cfg: cfg, ops: make(chan *op, 1024), stop: make(chan struct{}), stopped: make(chan struct{})}}
	var err error
	if s.writeDB, err = sql.Open("sqlite3", dsn(path, cfg, false)); err != nil {
		return nil, s.fileError(err)
	}
	s.writeDB.SetMaxOpenConns(1)
	s.writeDB.SetConnMaxIdleTime(0)
	s.writeDB.SetConnMaxLifetime(0)
	if s.readDB, err = sql.Open("sqlite3", dsn(path, cfg, true)); err != nil {
		s.writeDB.Close()
		return nil, s.fileError(err)
	}
	s.readDB.SetMaxOpenConns(cfg.readers)
	s.readDB.SetMaxIdleConns(cfg.readers)
	conn, err := s.writeDB.Conn(ctx)
	if err == nil {
		err = s.prepareFile(ctx, conn)
	} else {
		err = s.fileError(err)
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		s.writeDB.Close()
		s.readDB.Close()
		return nil, err
	}
	go s.writer(conn)
	return s, nil
}

// dsn is the driver's data source name for path: a file: URI with the
// pragmas every connection sets.
func dsn(path string, cfg config, readOnly bool) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	q := "?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(" + cfg.synchronous + ")&_pragma=temp_store(memory)&_txlock=immediate"
	if readOnly {
		q += "&_pragma=query_only(1)"
	}
	return "file:" + esc + q
}

// prepareFile checks that the file is a SQLite database this package may
// use, and migrates it unless told not to.
func (s *Store) prepareFile(ctx context.Context, conn *sql.Conn) error {
	var mode string
	if err := retryBusy(ctx, func() error { return conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode) }); err != nil {
		return s.fileError(err)
	}
	if !strings.EqualFold(mode, "wal") {
		return s.fileError(fmt.Errorf("journal mode is %s, not wal", mode))
	}
	v, err := userVersion(ctx, conn)
	if err != nil {
		return s.fileError(err)
	}
	switch {
	case v > latestVersion:
		return fmt.Errorf("%w: %s is at schema version %d, this taskflow knows up to %d; upgrade taskflow", ErrSchemaTooNew, s.path, v, latestVersion)
	case v < latestVersion && !s.cfg.migrate:
		return fmt.Errorf("%w: %s is at schema version %d, need %d; open it without WithoutMigrate, or run `taskflow migrate up`", ErrNotMigrated, s.path, v, latestVersion)
	case v < latestVersion:
		if err := migrateConn(ctx, conn, latestVersion, true); err != nil {
			return s.fileError(err)
		}
	}
	// A write transaction that changes nothing: fails now on a read-only file.
	err = retryBusy(ctx, func() error {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return err
		}
		_, err := conn.ExecContext(ctx, "COMMIT")
		return err
	})
	return s.fileError(err)
}

// fileError names what is wrong with the file in err, if anything.
func (s *core) fileError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrSchemaTooNew), errors.Is(err, ErrNotMigrated):
		return err
	case errors.Is(err, sqlite3.NOTADB):
		return fmt.Errorf("%w: %s: %v", ErrNotDatabase, s.path, err)
	case errors.Is(err, sqlite3.READONLY), errors.Is(err, sqlite3.CANTOPEN) && !writable(s.path):
		return fmt.Errorf("%w: %s: %v", ErrReadOnly, s.path, err)
	}
	return fmt.Errorf("sqlitestore: %s: %w", s.path, err)
}

// writable reports whether path, or its directory when path does not
// exist, can be written.
func writable(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return true
	}
	if os.IsNotExist(err) {
		f, err := os.CreateTemp(filepath.Dir(path), ".taskflow-probe-*")
		if err != nil {
			return false
		}
		f.Close()
		os.Remove(f.Name())
		return true
	}
	return false
}

// WithTx returns a store whose calls run in tx, the caller's transaction
// on the same file, opened with this package's driver ("sqlite3",
// github.com/ncruces/go-sqlite3/driver): what they change commits or rolls
// back with it, so jobs can be enqueued atomically with the caller's own
// rows. Each call runs in a savepoint of tx. Subscribers are woken once tx
// commits, through the file watch (within the poll interval). The returned
// store must not be used after tx ends. While tx holds the file's write
// lock, other writers, this store's own included, wait for it.
func (s *Store) WithTx(tx *sql.Tx) *Store { return &Store{core: s.core, tx: tx} }

// Outside implements [storage.TxBound]: it returns the store outside any
// transaction.
func (s *Store) Outside() storage.Store { return &Store{core: s.core} }

// Path returns the file the store works on.
func (s *Store) Path() string { return s.path }

// Close stops the store: calls waiting for the writer fail with
// [ErrClosed], subscriptions end, and the file is closed. It is safe to call
// more than once. A store made by WithTx is not closed: its Close does
// nothing.
func (s *Store) Close() error {
	if s.tx != nil {
		return nil
	}
	var err error
	s.closeMu.Do(func() {
		close(s.stop)
		<-s.stopped
		s.subs.closeAll()
		err = errors.Join(s.writeDB.Close(), s.readDB.Close())
	})
	return err
}

// retryBusy runs fn until it returns an error other than SQLITE_BUSY (or
// SQLITE_LOCKED), or ctx is done: the driver's busy timeout has then
// already waited, so a retry only happens under long write transactions of
// other processes.
func retryBusy(ctx context.Context, fn func() error) error {
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := fn()
		if !busy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (the file stayed locked by another connection: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
	}
}

func busy(err error) bool {
	return err != nil && (errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED))
}

// interpretError translates driver errors into storage sentinels and
// prefixes the operation.
func interpretError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlitestore: %s: %w", op, storage.ErrNotFound)
	case errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("sqlitestore: %s: %w: %v", op, storage.ErrDuplicate, err)
	}
	return fmt.Errorf("sqlitestore: %s: %w", op, err)
}

// micros stores t as microseconds since the epoch; the zero time as NULL.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros reads what micros stored.
func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// clock is the time of a call: t, or the store's clock when t is zero,
// truncated to the microseconds the file keeps.
func clock(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.Truncate(time.Microsecond).UTC()
}
