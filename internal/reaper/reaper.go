// Package reaper runs the clean-up duties of a worker: it returns jobs
// whose lease expired (their worker died or hung) to their queue, removes
// workers that stopped sending heartbeats (the store requeues their jobs),
// and removes finished jobs whose retention has passed.
//
// An engine part of the worker: it imports storage, never package taskflow.
package reaper

import (
	"context"
	"log/slog"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// Batch is the most jobs reclaimed or removed in one storage call.
const Batch = 1000

// Every calls fn at once and then every interval until ctx is done.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reclaim moves every job whose lease has expired back to Enqueued. A
// failure is logged and returned.
func Reclaim(ctx context.Context, store storage.Store, now func() time.Time, log *slog.Logger) error {
	for {
		n, err := store.ReclaimExpired(ctx, &storage.ReclaimParams{Now: now(), Limit: Batch})
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("taskflow: reclaiming expired leases failed", "err", err)
			}
			return err
		}
		if n > 0 {
			log.Info("taskflow: requeued jobs whose lease expired", "jobs", n)
		}
		if n < Batch {
			return nil
		}
	}
}

// Prune removes finished jobs whose ExpireAt has passed, in batches, if the
// store can. A failure is logged and returned.
func Prune(ctx context.Context, store storage.Store, now func() time.Time, log *slog.Logger) error {
	p, ok := store.(storage.Pruner)
	if !ok {
		return nil
	}
	for {
		n, err := p.DeleteExpired(ctx, &storage.PruneParams{Now: now(), Limit: Batch})
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("taskflow: removing expired jobs failed", "err", err)
			}
			return err
		}
		if n < Batch {
			return nil
		}
	}
}

// RemoveDeadWorkers unregisters workers whose last heartbeat, by the store's
// clock, is older than timeout; the store requeues their jobs. A failure is
// logged and returned.
func RemoveDeadWorkers(ctx context.Context, srv storage.Workers, timeout time.Duration, log *slog.Logger) error {
	dead, err := srv.RemoveDeadWorkers(ctx, timeout)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("taskflow: removing dead workers failed", "err", err)
		}
		return err
	}
	if len(dead) > 0 {
		log.Warn("taskflow: removed workers that stopped sending heartbeats; their jobs are requeued", "servers", dead)
	}
	return nil
}
