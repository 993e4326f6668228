// Package scheduler promotes due Scheduled jobs (delayed jobs and retries)
// to Enqueued. It wakes at the earliest due time the store reports, or when
// the store signals that the schedule changed, and otherwise polls at a
// bounded interval, so a job runs on time without a fixed long poll.
//
// An engine part of the worker: it imports storage, never package taskflow.
package scheduler

import (
	"context"
	"log/slog"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// Batch is the most jobs promoted in one storage call.
const Batch = 1000

// minGap bounds how often wake-ups make the scheduler call the store.
const minGap = 5 * time.Millisecond

// Run promotes due jobs until ctx is done. wake may be nil.
func Run(ctx context.Context, store storage.Store, now func() time.Time, maxWait time.Duration, wake <-chan struct{}, log *slog.Logger) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-wake:
		}
		wait := maxWait
		res, err := store.PromoteDue(ctx, &storage.PromoteParams{Now: now(), Limit: Batch})
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("taskflow: promoting scheduled jobs failed", "err", err, "retry_in", backoff)
			wait, backoff = backoff, min(backoff*2, maxWait)
		case res.Promoted == Batch:
			wait = 0 // more are due
		default:
			backoff = 100 * time.Millisecond
			if !res.Next.IsZero() {
				wait = min(wait, max(res.Next.Sub(now()), 0))
			}
		}
		timer.Reset(max(wait, minGap))
	}
}

// PromoteAll promotes every job due at now, in batches, and returns the
// earliest due time of the jobs still Scheduled (zero if none).
func PromoteAll(ctx context.Context, store storage.Store, now time.Time) (time.Time, error) {
	for {
		res, err := store.PromoteDue(ctx, &storage.PromoteParams{Now: now, Limit: Batch})
		if err != nil || res.Promoted < Batch {
			return res.Next, err
		}
	}
}
