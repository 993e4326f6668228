package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // the driver taskflow's SQLite store uses too
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// noopArgs is River's no-op job; T is when it was enqueued, for pickup.
type noopArgs struct {
	T int64 `json:"t"`
}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	lat chan time.Duration
}

func (w *noopWorker) Work(_ context.Context, j *river.Job[noopArgs]) error {
	if j.Args.T > 0 {
		w.lat <- time.Since(time.Unix(0, j.Args.T))
	}
	return nil
}

// riverRunner drives River with its benchmark's settings (FetchCooldown
// 2 ms, FetchPollInterval 20 ms).
type riverRunner[TTx any] struct {
	client    *river.Client[TTx]
	lat       chan time.Duration
	completed <-chan *river.Event
	cancelSub func()
}

func newRiver[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], schema string, c config) (*riverRunner[TTx], error) {
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema})
	if err != nil {
		return nil, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, err
	}
	r := &riverRunner[TTx]{lat: make(chan time.Duration, 10000)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{lat: r.lat})
	r.client, err = river.NewClient(driver, &river.Config{
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: c.workers}},
		Workers:       workers,
		Schema:        schema,
		FetchCooldown: 2 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	r.completed, r.cancelSub = r.client.Subscribe(river.EventKindJobCompleted)
	return r, nil
}

func (r *riverRunner[TTx]) insert(ctx context.Context, n, batch int) error {
	for done := 0; done < n; done += batch {
		params := make([]river.InsertManyParams, min(batch, n-done))
		for i := range params {
			params[i] = river.InsertManyParams{Args: noopArgs{}}
		}
		if _, err := r.client.InsertMany(ctx, params); err != nil {
			return err
		}
	}
	return nil
}

func (r *riverRunner[TTx]) work(ctx context.Context, n int) error {
	if err := r.client.Start(context.Background()); err != nil {
		return err
	}
	for got := 0; got < n; got++ {
		select {
		case <-r.completed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// close stops the client; the store may then be closed.
func (r *riverRunner[TTx]) close() {
	stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.client.StopAndCancel(stop)
}

func (r *riverRunner[TTx]) pickup(ctx context.Context, d time.Duration, rate int) ([]time.Duration, error) {
	defer r.cancelSub()
	go func() { // keep the subscription drained
		for range r.completed {
		}
	}()
	return pace(ctx, d, rate, r.lat, func() error {
		_, err := r.client.Insert(ctx, noopArgs{T: time.Now().UnixNano()}, nil)
		return err
	})
}

func openRiverPgx(ctx context.Context, c config) (runner, func(), error) {
	pool, schema, cleanup, err := freshSchema(ctx, c.postgres)
	if err != nil {
		return nil, nil, err
	}
	r, err := newRiver(ctx, riverpgxv5.New(pool), schema, c)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return r, func() { r.close(); cleanup() }, nil
}

func openRiverSQLite(ctx context.Context, c config) (runner, func(), error) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(c.dir, "river-"+randomHex()+".db")+
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)")
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1) // as riversqlite's documentation advises
	r, err := newRiver(ctx, riversqlite.New(db), "", c)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return r, func() { r.close(); db.Close() }, nil
}
