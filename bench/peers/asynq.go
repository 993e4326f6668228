package main

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

// asynqRunner drives Asynq. It has no batch insert: one Enqueue per job.
type asynqRunner struct {
	opt     asynq.RedisClientOpt
	client  *asynq.Client
	srv     *asynq.Server
	workers int
	done    atomic.Int64
	lat     chan time.Duration
}

func openAsynq(ctx context.Context, c config) (runner, func(), error) {
	rdb, err := flushedRedis(ctx, c.redis, 3)
	if err != nil {
		return nil, nil, err
	}
	rdb.Close()
	opt := asynq.RedisClientOpt{Addr: c.redis, DB: 3}
	r := &asynqRunner{opt: opt, client: asynq.NewClient(opt), workers: c.workers, lat: make(chan time.Duration, 10000)}
	return r, func() { r.client.Close() }, nil
}

func (r *asynqRunner) insert(ctx context.Context, n, _ int) error {
	payload := make([]byte, 8)
	for range n {
		if _, err := r.client.EnqueueContext(ctx, asynq.NewTask("noop", payload)); err != nil {
			return err
		}
	}
	return nil
}

func (r *asynqRunner) work(ctx context.Context, n int) error {
	r.srv = asynq.NewServer(r.opt, asynq.Config{Concurrency: r.workers, LogLevel: asynq.ErrorLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(_ context.Context, t *asynq.Task) error {
		if at := int64(binary.BigEndian.Uint64(t.Payload())); at > 0 {
			r.lat <- time.Since(time.Unix(0, at))
		}
		r.done.Add(1)
		return nil
	})
	if err := r.srv.Start(mux); err != nil {
		return err
	}
	for r.done.Load() < int64(n) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func (r *asynqRunner) pickup(ctx context.Context, d time.Duration, rate int) ([]time.Duration, error) {
	defer r.srv.Shutdown()
	return pace(ctx, d, rate, r.lat, func() error {
		payload := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
		_, err := r.client.EnqueueContext(ctx, asynq.NewTask("noop", payload))
		return err
	})
}
