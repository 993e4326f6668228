// Package pgstore is a PostgreSQL taskflow store built on pgx/v5. It passes
// the whole storage conformance suite (package storagetest) and implements
// every optional interface: [storage.Notifier] (LISTEN/NOTIFY),
// [storage.Lister], [storage.Pruner], [storage.Batches],
// [storage.Recurring], [storage.Locker] and [storage.Workers].
//
// # Setup
//
// The tables live in their own schema, "taskflow" unless [Schema] says
// otherwise. Create or upgrade them with [Migrate] (or `taskflow migrate up`)
// before use; a Store on an unmigrated or too old schema returns an error
// wrapping [ErrNotMigrated] from every method. [MigrateTo] goes up or down
// to a given version, [MigrationStatus] tells which are applied, and
// [MigrationSQL] prints the statements for teams that run migrations with
// their own tool.
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	...
//	defer pool.Close()
//	if err := pgstore.Migrate(ctx, pool); err != nil { ... }
//	store := pgstore.New(pool)
//
// The pool belongs to the caller: taskflow never closes it.
//
// # Tables
//
// A job is one row of table jobs, which holds its current state. Table
// job_history gets a row each time a job leaves a state, so creating a job
// writes one row and each change of state one more; [Store.Get] reports the
// history rows followed by the current state. The history of a job that
// becomes Failed moves to table job_history_kept, so that job_history holds
// only rows that retention removes and its index stays bounded under churn.
// For the same reason [Store.DeleteExpired] moves the rows of Failed jobs to
// table jobs_kept, and a change of such a job (a requeue, a delete, a new
// continuation) moves it back to jobs first; reads that may meet a Failed
// job read both, through the view jobs_all. Job logs and progress have no
// foreign key to the row that moves: the pruner deletes them with their job.
// Every statement that changes a job is one round trip and reaches job rows
// by primary key or a partial index (see migrations/ and queries.go).
// Statements that change jobs lock their rows FOR NO KEY UPDATE, in id
// order; job logs and progress are written in job id order and retried
// when they lose a deadlock.
//
// The migrations set autovacuum parameters sized for queue tables, and a
// store logs a warning on its first call when the server runs with
// autovacuum off (see [WithLogger]).
//
// # Transactional enqueue
//
// [Store.WithTx] returns a store bound to the caller's transaction: jobs
// created through it exist if and only if that transaction commits.
//
// # Failures
//
// When the database is unreachable or a connection is lost, methods return
// the error; they never panic. The worker backs off and retries, and pgxpool
// replaces broken connections, so work resumes once the database is back.
// Subscribers share one connection per store, outside the pool (see
// [Store.Subscribe]); it reconnects by itself and wakes every subscriber
// once after reconnecting.
//
// # Flow features
//
// A unique index enforces unique keys: Create inserts with ON CONFLICT DO
// NOTHING and reads back the holder. Plain jobs take no extra statement: a
// Create with no unique key and no Awaiting job is one INSERT, and a
// Transition resolves continuations only for the finished jobs that its
// UPDATE reports as awaited or in a batch. Transitions that finish jobs run
// in a transaction, so that this resolution is atomic with them. Recurring
// definitions, locks, the worker registry, paused queues, statistics and
// job logs are tables of their own.
//
// Behind a transaction-pooling proxy (PgBouncer in transaction mode)
// LISTEN does not work: pass WithNotify(false) and the worker polls.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow-go/taskflow/storage"
)

var (
	_ storage.Store         = (*Store)(nil)
	_ storage.Notifier      = (*Store)(nil)
	_ storage.Lister        = (*Store)(nil)
	_ storage.Pruner        = (*Store)(nil)
	_ storage.UniqueKeys    = (*Store)(nil)
	_ storage.Continuations = (*Store)(nil)
	_ storage.Batches       = (*Store)(nil)
	_ storage.BatchLister   = (*Store)(nil)
	_ storage.Recurring     = (*Store)(nil)
	_ storage.Locker        = (*Store)(nil)
	_ storage.Workers       = (*Store)(nil)
)

// DefaultSchema is the schema that holds the tables unless [Schema] names
// another.
const DefaultSchema = "taskflow"

// ErrNotMigrated means the schema is missing or older than this package
// needs. Errors wrapping it name the fix: run `taskflow migrate up` or
// [Migrate].
var ErrNotMigrated = errors.New("pgstore: schema not migrated")

const fix = "; run `taskflow migrate up` or pgstore.Migrate"

// Option configures [New] and [Migrate].
type Option func(*config)

type config struct {
	schema string
	notify bool
	log    *slog.Logger
	err    error // an invalid option; every call returns it
}

func newConfig(opts []Option) config {
	c := config{schema: DefaultSchema, notify: true, log: slog.Default()}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// ErrInvalidSchema means a schema name is not a plain SQL identifier.
var ErrInvalidSchema = errors.New("pgstore: invalid schema name")

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Schema puts the tables in the named schema instead of [DefaultSchema].
// Pass the same option to [New] and [Migrate]. The name must be a plain SQL
// identifier: lower-case letters, digits and underscores, not starting with
// a digit, at most 63 bytes. Otherwise Migrate and every call of the store
// return an error wrapping [ErrInvalidSchema].
func Schema(name string) Option {
	return func(c *config) {
		c.schema = name
		if !identifier.MatchString(name) {
			c.err = fmt.Errorf("%w %q: want [a-z_][a-z0-9_]*, at most 63 bytes", ErrInvalidSchema, name)
		}
	}
}

// WithNotify turns LISTEN/NOTIFY wake-ups on (the default) or off. With them
// off, Subscribe returns [storage.ErrNotSupported] and workers poll; use that
// behind a transaction-pooling proxy.
func WithNotify(enabled bool) Option { return func(c *config) { c.notify = enabled } }

// WithLogger sets where the store logs what an operator should know, such
// as a server running with autovacuum off. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// db is what both a pool and a transaction offer.
type db interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// shared is the state a Store shares with the stores WithTx derives from it.
type shared struct {
	pool    *pgxpool.Pool
	cfg     config
	q       queries
	channel string      // NOTIFY channel, one per schema
	ready   atomic.Bool // the schema version was checked and is current

	notifying  atomic.Bool   // see wake
	limitCache limitCache    // whether limits are stored; see hasLimits
	pending    atomic.Uint32 // topics to announce; see wake

	listener listener // the subscribers' shared connection; see Subscribe
}

// Store is a PostgreSQL [storage.Store] that implements every optional
// interface of package storage. It is safe for concurrent use. Create one
// with [New].
type Store struct {
	*shared
	db   db
	inTx bool
}

// New returns a store on pool. The pool stays the caller's: close it after
// the last use of the store.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	cfg := newConfig(opts)
	ch := "taskflow:" + cfg.schema
	if len(ch) > 63 {
		ch = ch[:63]
	}
	return &Store{shared: &shared{pool: pool, cfg: cfg, q: buildQueries(cfg.schema), channel: ch}, db: pool}
}

// WithTx returns a store whose methods run in tx, the caller's transaction:
// what they change commits or rolls back with it. Wake-ups are sent when tx
// commits. The returned store must not be used after tx ends.
func (s *Store) WithTx(tx pgx.Tx) *Store {
	return &Store{shared: s.shared, db: tx, inTx: true}
}

// Outside implements [storage.TxBound]: it returns the store on the pool,
// outside any transaction.
func (s *Store) Outside() storage.Store {
	if !s.inTx {
		return s
	}
	return &Store{shared: s.shared, db: s.pool}
}

// versionSQL: () → the schema version applied last.
var versionSQL = `SELECT coalesce(max(version), 0) FROM {s}.schema_migrations`

// checkSQL: () → the schema version applied last, and whether the server
// runs autovacuum.
var checkSQL = `SELECT (` + versionSQL + `), current_setting('autovacuum')::bool`

// check returns ErrNotMigrated unless the schema is at the version this
// package needs. Success is cached; failure is not, so migrating a live
// database heals running stores. The first success logs a warning when the
// server runs with autovacuum off. When the version cannot be read (the
// database is unreachable, say) it returns nil: the operation runs and
// reports the failure under its own name, not this step's.
func (s *Store) check(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	if s.cfg.err != nil {
		return s.cfg.err
	}
	var v int
	var autovacuum bool
	err := s.db.QueryRow(ctx, s.q.check).Scan(&v, &autovacuum)
	if err != nil {
		if isUndefined(err) {
			return fmt.Errorf("%w: schema %q has no taskflow tables"+fix, ErrNotMigrated, s.cfg.schema)
		}
		return nil
	}
	if v < latestVersion {
		return fmt.Errorf("%w: schema %q is at version %d, need %d"+fix, ErrNotMigrated, s.cfg.schema, v, latestVersion)
	}
	if s.ready.CompareAndSwap(false, true) && !autovacuum {
		s.cfg.log.Warn("pgstore: the server runs with autovacuum off, so the dead rows and index entries that finishing and pruning jobs leave pile up, and the jobs tables and their indexes grow without bound; turn autovacuum on, or VACUUM the schema's tables often",
			"schema", s.cfg.schema)
	}
	return nil
}

// interpretError translates driver errors into storage sentinels and
// prefixes the operation.
func interpretError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = storage.ErrNotFound
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		return fmt.Errorf("pgstore: %s: %w: %s", op, storage.ErrDuplicate, pe.Detail)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// wake tells the subscribers to topics that work may be available; it does
// nothing for none. In a transaction the NOTIFY is queued there and
// delivered on commit. Otherwise it is sent after the fact by one goroutine
// at a time: many calls in quick succession cost one NOTIFY, for the union
// of their topics, each time the previous one is done, so producers never
// queue behind PostgreSQL's notification lock. (Create sends the NOTIFY
// with its INSERT instead when no other is in flight; see createAndNotify.)
// The payload names the topics (see payload).
func (s *Store) wake(ctx context.Context, topics storage.Topic) error {
	if !s.cfg.notify || topics == 0 {
		return nil
	}
	if s.inTx {
		_, err := s.db.Exec(ctx, s.q.notify, s.channel, payload(topics))
		return interpretError("notify", err)
	}
	s.pending.Or(uint32(topics))
	if s.notifying.CompareAndSwap(false, true) {
		go s.notifyLoop()
	}
	return nil
}

func (s *shared) notifyLoop() {
	for t := s.pending.Swap(0); t != 0; t = s.pending.Swap(0) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = s.pool.Exec(ctx, s.q.notify, s.channel, payload(storage.Topic(t))) // best effort: polling is the fallback
		cancel()
	}
	s.notifyDone()
}

// notifyDone releases s.notifying, then takes it again to send the
// wake-ups that were asked for meanwhile.
func (s *shared) notifyDone() {
	s.notifying.Store(false)
	if s.pending.Load() != 0 && s.notifying.CompareAndSwap(false, true) {
		go s.notifyLoop()
	}
}

// topicLetters name the topics in a notification's payload.
var topicLetters = [...]struct {
	t storage.Topic
	c byte
}{{storage.TopicEnqueued, 'e'}, {storage.TopicScheduled, 's'}, {storage.TopicRecurring, 'r'}, {storage.TopicFinished, 'f'}}

// payload is the NOTIFY payload for topics: one letter per topic.
func payload(topics storage.Topic) string {
	b := make([]byte, 0, len(topicLetters))
	for _, l := range topicLetters {
		if topics&l.t != 0 {
			b = append(b, l.c)
		}
	}
	return string(b)
}

// topicsOf reads a payload; an empty or unknown one, which another version
// may send, stands for every topic.
func topicsOf(payload string) storage.Topic {
	var t storage.Topic
	for i := range len(payload) {
		for _, l := range topicLetters {
			if payload[i] == l.c {
				t |= l.t
			}
		}
	}
	if t == 0 {
		return storage.TopicAll
	}
	return t
}

// ts maps the zero time to NULL.
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// uid passes a UUID as 16 bytes, avoiding pgx's reflection path.
func uid(id [16]byte) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }
