package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// asynqInserters is how many goroutines enqueue at once in Asynq's bulk
// insert: Asynq v0.26.0 has no batch enqueue, one call enqueues one task.
const asynqInserters = 16

// asynqSystem is Asynq with its defaults but the concurrency and
// TaskCheckInterval (20 ms, as River's FetchPollInterval here, instead of
// 1 s: how long an idle server sleeps before it looks for tasks again).
// A job counts as done when its handler returns: Asynq has no hook after
// it stores the completion, so a burn-down also waits until the queue
// holds no active task.
type asynqSystem struct {
	h         *hooks
	rdb       *redis.Client // for cleanup and the emptiness check
	client    *asynq.Client
	inspector *asynq.Inspector
	server    *asynq.Server
	opt       asynq.RedisClientOpt
	workers   int
}

func (e *env) openAsynq(ctx context.Context, h *hooks) (system, error) {
	opt := asynq.RedisClientOpt{Addr: e.redisAddr, DB: e.cfg.asynqDB}
	rdb := redis.NewClient(&redis.Options{Addr: e.redisAddr, DB: e.cfg.asynqDB})
	n, err := rdb.DBSize(ctx).Result()
	if err == nil && n > 0 {
		err = fmt.Errorf("redis %s database %d holds %d keys; Asynq needs an empty one: choose another with -asynq-db", e.redisAddr, e.cfg.asynqDB, n)
	}
	if err != nil {
		return nil, fmt.Errorf("asynq: %w", errors.Join(err, rdb.Close()))
	}
	return &asynqSystem{h: h, rdb: rdb, opt: opt, workers: e.cfg.workers,
		client: asynq.NewClient(opt), inspector: asynq.NewInspector(opt)}, nil
}

// payload encodes at as a task payload; the zero time as none.
func payload(at time.Time) []byte {
	if at.IsZero() {
		return nil
	}
	return binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
}

func (s *asynqSystem) insert(ctx context.Context, n, _ int) error {
	var left atomic.Int64
	left.Store(int64(n))
	take := func() bool { return left.Add(-1) >= 0 }
	errs := make(chan error, asynqInserters)
	var wg sync.WaitGroup
	for range min(asynqInserters, n) {
		wg.Go(func() {
			for take() {
				if _, err := s.client.EnqueueContext(ctx, asynq.NewTask("noop", nil)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (s *asynqSystem) enqueue(ctx context.Context, at time.Time) error {
	_, err := s.client.EnqueueContext(ctx, asynq.NewTask("noop", payload(at)))
	return err
}

func (s *asynqSystem) start(context.Context) error {
	s.server = asynq.NewServer(s.opt, asynq.Config{
		Concurrency:       s.workers,
		TaskCheckInterval: 20 * time.Millisecond,
		ShutdownTimeout:   5 * time.Second,
		LogLevel:          asynq.WarnLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(_ context.Context, t *asynq.Task) error {
		if p := t.Payload(); len(p) == 8 {
			s.h.started(time.Unix(0, int64(binary.BigEndian.Uint64(p))))
		}
		s.h.done.Add(1)
		return nil
	})
	return s.server.Start(mux)
}

// settle waits until the queue holds no pending or active task, so that
// the completions of the jobs counted are stored.
func (s *asynqSystem) settle(ctx context.Context) error {
	for {
		q, err := s.inspector.GetQueueInfo("default")
		if err != nil {
			return err
		}
		if q.Pending == 0 && q.Active == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (s *asynqSystem) close() error {
	if s.server != nil {
		s.server.Shutdown()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The database was empty when the run began: what it holds now is
	// Asynq's.
	return errors.Join(s.client.Close(), s.inspector.Close(), deleteKeys(ctx, s.rdb, "asynq:*"), s.rdb.Close())
}
