package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/storage/redisstore"
	"github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

func allSystems() []system {
	return []system{
		{"taskflow-memory", func(ctx context.Context, c config) (runner, func(), error) {
			return newTaskflow(memstore.New(), c), func() {}, nil
		}},
		{"taskflow-sqlite", func(ctx context.Context, c config) (runner, func(), error) {
			s, err := sqlitestore.Open(ctx, filepath.Join(c.dir, "taskflow-"+randomHex()+".db"))
			if err != nil {
				return nil, nil, err
			}
			return newTaskflow(s, c), func() { s.Close() }, nil
		}},
		{"taskflow-postgres", func(ctx context.Context, c config) (runner, func(), error) {
			pool, schema, cleanup, err := freshSchema(ctx, c.postgres)
			if err != nil {
				return nil, nil, err
			}
			if err := pgstore.Migrate(ctx, pool, pgstore.Schema(schema)); err != nil {
				cleanup()
				return nil, nil, err
			}
			return newTaskflow(pgstore.New(pool, pgstore.Schema(schema)), c), cleanup, nil
		}},
		{"taskflow-redis", func(ctx context.Context, c config) (runner, func(), error) {
			rdb, err := flushedRedis(ctx, c.redis, 2)
			if err != nil {
				return nil, nil, err
			}
			return newTaskflow(redisstore.New(rdb), c), func() { rdb.Close() }, nil
		}},
		{"river-pgx", openRiverPgx},
		{"river-sqlite", openRiverSQLite},
		{"asynq", openAsynq},
	}
}

// tfRunner drives taskflow through its public API.
type tfRunner struct {
	store   storage.Store
	client  *taskflow.Client
	task    *taskflow.Task[int64, struct{}]
	reg     *taskflow.Registry
	workers int
	lat     chan time.Duration
	stop    func()
}

func newTaskflow(s storage.Store, c config) *tfRunner {
	r := &tfRunner{store: s, reg: taskflow.NewRegistry(), workers: c.workers, lat: make(chan time.Duration, 10000)}
	var err error
	r.task, err = taskflow.RegisterTask(r.reg, "noop", func(_ context.Context, t int64) (struct{}, error) {
		if t > 0 {
			r.lat <- time.Since(time.Unix(0, t))
		}
		return struct{}{}, nil
	})
	if err != nil {
		fatal(err)
	}
	if r.client, err = taskflow.NewClient(s, taskflow.ClientOptions{}); err != nil {
		fatal(err)
	}
	return r
}

func (r *tfRunner) insert(ctx context.Context, n, batch int) error {
	for done := 0; done < n; done += batch {
		if _, err := r.task.On(r.client).EnqueueMany(ctx, make([]int64, min(batch, n-done))); err != nil {
			return err
		}
	}
	return nil
}

func (r *tfRunner) work(ctx context.Context, n int) error {
	w, err := taskflow.NewWorker(r.store, taskflow.WorkerOptions{Registry: r.reg, Concurrency: r.workers,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	r.stop = func() { cancel(); <-done }
	lister := r.store.(storage.Lister)
	for {
		c, err := lister.Count(ctx, "")
		if err != nil {
			return err
		}
		if c[states.NameSucceeded] >= int64(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (r *tfRunner) pickup(ctx context.Context, d time.Duration, rate int) ([]time.Duration, error) {
	defer r.stop()
	return pace(ctx, d, rate, r.lat, func() error {
		_, err := r.task.On(r.client).Enqueue(ctx, time.Now().UnixNano())
		return err
	})
}

// pace calls enqueue rate times a second for d, then collects as many
// latencies from lat, waiting at most 10 s for the last.
func pace(ctx context.Context, d time.Duration, rate int, lat chan time.Duration, enqueue func() error) ([]time.Duration, error) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	sent := 0
	for end := time.Now().Add(d); time.Now().Before(end); sent++ {
		<-tick.C
		if err := enqueue(); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, sent)
	timeout := time.After(10 * time.Second)
	for len(out) < sent {
		select {
		case l := <-lat:
			out = append(out, l)
		case <-timeout:
			return out, fmt.Errorf("%d of %d jobs not started", sent-len(out), sent)
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

// freshSchema connects to url and names a fresh schema, dropped by cleanup.
func freshSchema(ctx context.Context, url string) (*pgxpool.Pool, string, func(), error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, "", nil, err
	}
	schema := "peers_" + randomHex()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		pool.Close()
		return nil, "", nil, err
	}
	return pool, schema, func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		pool.Close()
	}, nil
}

// flushedRedis returns a client on database db of addr, emptied.
func flushedRedis(ctx context.Context, addr string, db int) (*redis.Client, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		rdb.Close()
		return nil, err
	}
	return rdb, nil
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
