package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/storage/redisstore"
	"github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// tfArgs are the arguments of taskflow's no-op job.
type tfArgs struct {
	At time.Time `json:"at,omitzero"`
}

// tfSystem is taskflow on one store, with worker defaults but the
// concurrency.
type tfSystem struct {
	filters.Defaults // it counts Succeeded jobs as an apply-state filter
	h                *hooks
	workers          int
	store            storage.Store
	reg              *taskflow.Registry
	task             taskflow.Bound[tfArgs, struct{}]
	stop             func() error // the worker's, once started
	cleanup          func() error // the store's
}

// OnStateApplied counts the jobs stored as Succeeded.
func (s *tfSystem) OnStateApplied(_ context.Context, a *filters.ApplyStateContext) {
	if a.State.Name() == states.NameSucceeded {
		s.h.done.Add(1)
	}
}

func (e *env) openTaskflow(ctx context.Context, name string, h *hooks) (system, error) {
	s := &tfSystem{h: h, workers: e.cfg.workers, reg: taskflow.NewRegistry()}
	var err error
	switch name {
	case "taskflow-memory":
		s.store, s.cleanup = memstore.New(), func() error { return nil }
	case "taskflow-sqlite":
		err = s.openSQLite(ctx)
	case "taskflow-postgres":
		err = s.openPostgres(ctx, e.cfg.database)
	default:
		err = s.openRedis(ctx, e.redisAddr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	task, err := taskflow.RegisterTask(s.reg, "noop", func(_ context.Context, a tfArgs) (struct{}, error) {
		h.started(a.At)
		return struct{}{}, nil
	})
	if err == nil {
		var client *taskflow.Client
		if client, err = taskflow.NewClient(s.store, taskflow.ClientOptions{}); err == nil {
			s.task = task.On(client)
			return s, nil
		}
	}
	return nil, errors.Join(err, s.cleanup())
}

func (s *tfSystem) openSQLite(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "taskflow-bench-")
	if err != nil {
		return err
	}
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "jobs.db"))
	if err != nil {
		return errors.Join(err, os.RemoveAll(dir))
	}
	s.store = st
	s.cleanup = func() error { return errors.Join(st.Close(), os.RemoveAll(dir)) }
	return nil
}

func (s *tfSystem) openPostgres(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	schema := freshName("tf_bench_")
	if err := pgstore.Migrate(ctx, pool, pgstore.Schema(schema)); err != nil {
		pool.Close()
		return err
	}
	s.store = pgstore.New(pool, pgstore.Schema(schema))
	s.cleanup = func() error {
		defer pool.Close()
		return dropSchema(pool, schema)
	}
	return nil
}

// dropSchema drops a schema the program created, with what it holds.
func dropSchema(pool *pgxpool.Pool, schema string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

func (s *tfSystem) openRedis(ctx context.Context, addr string) error {
	client := redis.NewClient(&redis.Options{Addr: addr})
	if err := client.Ping(ctx).Err(); err != nil {
		return errors.Join(err, client.Close())
	}
	name := freshName("peerbench_")
	s.store = redisstore.New(client, redisstore.Name(name))
	s.cleanup = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The store's keys are "{name}:…"; "{name:k}:…" for sharded queues.
		return errors.Join(deleteKeys(ctx, client, "{"+name+"[}:]*"), client.Close())
	}
	return nil
}

func (s *tfSystem) insert(ctx context.Context, n, batch int) error {
	args := make([]tfArgs, min(batch, n))
	for i := 0; i < n; i += len(args) {
		if _, err := s.task.EnqueueMany(ctx, args[:min(len(args), n-i)]); err != nil {
			return err
		}
	}
	return nil
}

func (s *tfSystem) enqueue(ctx context.Context, at time.Time) error {
	_, err := s.task.Enqueue(ctx, tfArgs{At: at})
	return err
}

func (s *tfSystem) start(context.Context) error {
	w, err := taskflow.NewWorker(s.store, taskflow.WorkerOptions{
		Registry:    s.reg,
		Concurrency: s.workers,
		Filters:     []filters.Filter{s},
		Logger:      quietLogger(),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- w.Run(ctx) }()
	s.stop = func() error {
		cancel()
		if err := <-res; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	return nil
}

func (s *tfSystem) close() error {
	var err error
	if s.stop != nil {
		err = s.stop()
	}
	return errors.Join(err, s.cleanup())
}

// quietLogger logs warnings and errors only, to stderr.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// deleteKeys deletes the keys of c's current database that match pattern.
func deleteKeys(ctx context.Context, c *redis.Client, pattern string) error {
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil || len(batch) == 0 {
		return err
	}
	return c.Unlink(ctx, batch...).Err()
}
