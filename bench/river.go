package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, as River's docs use
)

// riverArgs are the arguments of River's no-op job.
type riverArgs struct {
	At time.Time `json:"at,omitzero"`
}

// Kind is the job kind River registers the worker under.
func (riverArgs) Kind() string { return "noop" }

// riverWorker is River's no-op worker.
type riverWorker struct {
	river.WorkerDefaults[riverArgs]
	h *hooks
}

// Work reports the job's start and does nothing else.
func (w *riverWorker) Work(_ context.Context, job *river.Job[riverArgs]) error {
	w.h.started(job.Args.At)
	return nil
}

// riverSystem is River on one driver. It is set up as River's own
// benchmark (riverbench) sets it up: FetchCooldown 2 ms and
// FetchPollInterval 20 ms, with the worker count of the sitting; jobs are
// counted by River's completed events, sent once their completion is
// stored.
type riverSystem[TTx any] struct {
	client      *river.Client[TTx]
	unsubscribe func()
	counted     chan struct{}
	started     bool
	cleanup     func() error
}

func newRiverSystem[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], schema string, workers int, h *hooks) (*riverSystem[TTx], error) {
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema, Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	ws := river.NewWorkers()
	if err := river.AddWorkerSafely(ws, &riverWorker{h: h}); err != nil {
		return nil, err
	}
	client, err := river.NewClient(driver, &river.Config{
		Schema:            schema,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		Workers:           ws,
		FetchCooldown:     2 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            quietLogger(),
	})
	if err != nil {
		return nil, err
	}
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		Kinds:    []river.EventKind{river.EventKindJobCompleted},
		ChanSize: 100_000, // events that overflow it are dropped
	})
	s := &riverSystem[TTx]{client: client, unsubscribe: unsubscribe, counted: make(chan struct{})}
	go func() {
		defer close(s.counted)
		for range events {
			h.done.Add(1)
		}
	}()
	return s, nil
}

func (e *env) openRiverPostgres(ctx context.Context, h *hooks) (system, error) {
	pool, err := pgxpool.New(ctx, e.cfg.database)
	if err != nil {
		return nil, fmt.Errorf("river-postgres: %w", err)
	}
	schema := freshName("river_bench_")
	drop := func() error { defer pool.Close(); return dropSchema(pool, schema) }
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return nil, fmt.Errorf("river-postgres: %w", errors.Join(err, drop()))
	}
	s, err := newRiverSystem(ctx, riverpgxv5.New(pool), schema, e.cfg.workers, h)
	if err != nil {
		return nil, fmt.Errorf("river-postgres: %w", errors.Join(err, drop()))
	}
	s.cleanup = drop
	return s, nil
}

func (e *env) openRiverSQLite(ctx context.Context, h *hooks) (system, error) {
	dir, err := os.MkdirTemp("", "river-bench-")
	if err != nil {
		return nil, err
	}
	// WAL and synchronous=NORMAL, as taskflow's SQLite store; one
	// connection, as riversqlite's documentation advises.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "river.db")+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	db.SetMaxOpenConns(1)
	cleanup := func() error { return errors.Join(db.Close(), os.RemoveAll(dir)) }
	s, err := newRiverSystem(ctx, riversqlite.New(db), "", e.cfg.workers, h)
	if err != nil {
		return nil, fmt.Errorf("river-sqlite: %w", errors.Join(err, cleanup()))
	}
	s.cleanup = cleanup
	return s, nil
}

// insert uses InsertManyFast, River's fastest bulk path (COPY on
// PostgreSQL).
func (s *riverSystem[TTx]) insert(ctx context.Context, n, batch int) error {
	params := make([]river.InsertManyParams, min(batch, n))
	for i := range params {
		params[i].Args = riverArgs{}
	}
	for i := 0; i < n; i += len(params) {
		if _, err := s.client.InsertManyFast(ctx, params[:min(len(params), n-i)]); err != nil {
			return err
		}
	}
	return nil
}

func (s *riverSystem[TTx]) enqueue(ctx context.Context, at time.Time) error {
	_, err := s.client.Insert(ctx, riverArgs{At: at}, nil)
	return err
}

func (s *riverSystem[TTx]) start(ctx context.Context) error {
	s.started = true
	return s.client.Start(context.WithoutCancel(ctx))
}

func (s *riverSystem[TTx]) close() error {
	var err error
	if s.started {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = s.client.Stop(ctx)
		cancel()
	}
	s.unsubscribe()
	<-s.counted
	return errors.Join(err, s.cleanup())
}
