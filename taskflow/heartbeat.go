package taskflow

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// heartbeat renews the leases of every job the worker holds and announces
// the worker, in one storage call per tick, and cancels attempts whose job
// was taken from them (deleted, requeued, rescheduled, moved to another
// state, or reclaimed after the lease expired). The first beat happens at
// once, so the worker is registered before it fetches.
func (w *Worker) heartbeat(ctx context.Context, registered chan<- struct{}) {
	host, _ := os.Hostname()
	info := &storage.ServerInfo{
		ID: w.opts.ServerID, Host: host, PID: os.Getpid(), Queues: w.opts.Queues,
		Concurrency: w.opts.Concurrency, StartedAt: w.opts.Clock(),
	}
	t := time.NewTicker(w.opts.HeartbeatInterval)
	defer t.Stop()
	var renewed time.Time
	for {
		now := w.opts.Clock()
		var until time.Time // zero: check the leases only, a read
		if now.Sub(renewed) >= w.opts.LeaseDuration/3-w.opts.HeartbeatInterval/2 {
			until, renewed = now.Add(w.opts.LeaseDuration), now
		}
		w.beat(ctx, info, until)
		if registered != nil {
			close(registered)
			registered = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) beat(ctx context.Context, info *storage.ServerInfo, until time.Time) {
	w.mu.Lock()
	held := make(map[uuid.UUID]int64, len(w.held))
	for id, a := range w.held {
		held[id] = a.job.LeaseToken
	}
	w.mu.Unlock()
	lost, err := w.store.ExtendLeases(ctx, &storage.ExtendParams{Owner: w.opts.ServerID, Server: info, Jobs: held, Until: until})
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("taskflow: renewing leases failed", "jobs", len(held), "err", err)
		}
		return
	}
	now := w.opts.Clock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range lost {
		// Only the attempt the lease was checked for: a newer attempt of
		// the same job, fetched meanwhile, holds a lease of its own.
		if a := w.held[l.ID]; a != nil && a.job.LeaseToken == held[l.ID] {
			w.loseLocked(a, lostCause(a, l.State, now))
		}
	}
	if until.IsZero() {
		return
	}
	for id, token := range held {
		if a := w.held[id]; a != nil && a.job.LeaseToken == token {
			a.until = until
		}
	}
}

// loseLocked records that the job was taken from attempt a, cancels a's
// context with cause if it runs, and forgets its lease. w.mu is held.
func (w *Worker) loseLocked(a *attempt, cause error) {
	if a.lost != nil {
		return
	}
	a.lost = cause
	if a.cancel != nil {
		a.cancel(cause)
	}
	if w.held[a.job.ID] == a {
		delete(w.held, a.job.ID)
	}
}

// lostCause says why the job of attempt a was taken from it, from the state
// the job is in now. A job back in a queue, or running as another attempt,
// was requeued if a's lease had not yet expired by this worker's clock, and
// reclaimed after expiry otherwise.
func lostCause(a *attempt, now states.Name, at time.Time) error {
	var why error
	switch now {
	case "", states.NameDeleted:
		why = ErrJobDeleted
	case states.NameScheduled:
		why = ErrJobRescheduled
	case states.NameEnqueued, states.NameProcessing:
		why = ErrJobRequeued
		if !at.Before(a.until) {
			why = ErrLeaseLost
		}
	default:
		why = ErrJobStateChanged
	}
	state := string(now)
	switch now {
	case "":
		state = "gone"
	case states.NameProcessing:
		state = "running as a newer attempt"
	}
	return fmt.Errorf("%w: job %s (task %s, attempt %d) is %s now", why, a.job.ID, a.job.Task, a.job.Attempt, state)
}
