package taskflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// serverInfo describes this worker for the store's registry: its tasks
// are those of its registry when Run starts.
func (w *Worker) serverInfo() *storage.WorkerInfo {
	host, _ := os.Hostname()
	tasks := w.opts.Registry.Names()
	slices.Sort(tasks)
	return &storage.WorkerInfo{
		ID: w.opts.ID, Host: host, PID: os.Getpid(), Queues: w.opts.Queues,
		Concurrency: w.opts.Concurrency, Tasks: tasks, StartedAt: w.opts.Clock(),
	}
}

// register sends the first heartbeat, which also proves the store
// reachable and migrated.
func (w *Worker) register(ctx context.Context, info *storage.WorkerInfo) error {
	ctx, cancel := context.WithTimeout(ctx, max(w.opts.LeaseDuration, 5*time.Second))
	defer cancel()
	if _, err := w.store.ExtendLeases(ctx, &storage.ExtendParams{Owner: w.opts.ID, Worker: info}); err != nil {
		return fmt.Errorf("taskflow: worker %s cannot use its store: %w", w.opts.ID, err)
	}
	return nil
}

// heartbeat announces the worker and checks the leases of every job it
// holds, in one storage call per tick, renewing them in that call every
// LeaseDuration/3, and cancels attempts whose job was taken from them (deleted, requeued, rescheduled, moved to another
// state, or reclaimed after the lease expired). The first beat is
// register's.
func (w *Worker) heartbeat(ctx context.Context, info *storage.WorkerInfo) {
	t := time.NewTicker(w.opts.HeartbeatInterval)
	defer t.Stop()
	renewed := w.opts.Clock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := w.opts.Clock()
		var until time.Time // zero: check the leases only, a read
		if now.Sub(renewed) >= w.opts.LeaseDuration/3-w.opts.HeartbeatInterval/2 {
			until, renewed = now.Add(w.opts.LeaseDuration), now
		}
		w.beat(ctx, info, until)
	}
}

func (w *Worker) beat(ctx context.Context, info *storage.WorkerInfo, until time.Time) {
	w.mu.Lock()
	held := make(map[uuid.UUID]int64, len(w.held))
	for id, a := range w.held {
		held[id] = a.job.LeaseToken
	}
	w.mu.Unlock()
	lost, err := w.store.ExtendLeases(ctx, &storage.ExtendParams{Owner: w.opts.ID, Worker: info, Jobs: held, Until: until})
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("taskflow: renewing leases failed", "jobs", len(held), "err", err)
		}
		return
	}
	w.comp.Outage().Succeeded()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range lost {
		// Only the attempt the lease was checked for: a newer attempt of
		// the same job, fetched meanwhile, holds a lease of its own. An
		// attempt whose outcome is being stored learns from the store's
		// answer whether its job was taken: its lease may be gone because
		// that outcome is stored.
		if a := w.held[l.ID]; a != nil && a.job.LeaseToken == held[l.ID] && !a.settled.Load() {
			w.loseLocked(a, l.State)
		}
	}
}

// loseLocked records that the job was taken from attempt a and forgets
// a's lease; w.mu is held. From then on nothing of a is stored. Its
// context is cancelled once the cause is known: read from the job's history
// (what became of the job right after a's Processing entry), or, when that
// read fails, guessed from hint, the state the job is in now.
func (w *Worker) loseLocked(a *attempt, hint states.Name) {
	if a.lost != nil {
		return
	}
	a.lost = errLosing
	if w.held[a.job.ID] == a {
		delete(w.held, a.job.ID)
	}
	bg := w.bg
	if bg == nil { // RunNext, outside Run
		bg = context.Background()
	}
	go func() {
		ctx, cancel := context.WithTimeout(bg, time.Second)
		defer cancel()
		cause := w.lossCause(ctx, a, hint)
		w.mu.Lock()
		a.lost = cause
		if a.cancel != nil {
			a.cancel(cause)
		}
		w.mu.Unlock()
		if ev := w.opts.Events; ev.active() {
			j := a.job
			ev.publish(Event{Kind: EventLeaseLost, JobID: j.ID, Task: j.Task, Queue: j.Queue, Attempt: j.Attempt,
				At: w.opts.Clock(), Err: cause, Worker: w.opts.ID})
		}
	}()
}

// errLosing stands for the cause while it is being read.
var errLosing = errors.New("taskflow: job taken from the attempt")

// lossCause says why the job of attempt a was taken from it.
func (w *Worker) lossCause(ctx context.Context, a *attempt, hint states.Name) error {
	why, state, reason := ErrJobRequeued, hint, ""
	if hint == "" {
		why, state = ErrJobDeleted, "gone"
	} else if j, err := w.store.Get(ctx, a.job.ID); errors.Is(err, storage.ErrNotFound) {
		why, state = ErrJobDeleted, "gone"
	} else if err == nil {
		if rec, ok := after(j.History, a.job); ok {
			state, reason = rec.State, rec.Reason
		}
	}
	switch {
	case why == ErrJobDeleted:
	case state == states.NameDeleted:
		why = ErrJobDeleted
	case state == states.NameScheduled:
		why = ErrJobRescheduled
	case state == states.NameEnqueued && (reason == storage.ReasonLeaseExpired || strings.HasSuffix(reason, storage.ReasonWorkerDead)):
		why = ErrLeaseLost
	case state == states.NameEnqueued, state == states.NameProcessing:
		why = ErrJobRequeued
	default:
		why = ErrJobStateChanged
	}
	msg := fmt.Sprintf("%s (%s)", state, reason)
	if reason == "" {
		msg = string(state)
	}
	return fmt.Errorf("%w: job %s (task %s) left attempt %d for %s", why, a.job.ID, a.job.Task, a.job.Attempt, msg)
}

// after returns the history entry that follows the Processing entry of the
// lease that leased job holds: the one with its start and owner. The
// attempt number cannot find it, as a refunded lease counts none.
func after(history []storage.StateRecord, leased *storage.Job) (storage.StateRecord, bool) {
	st, err := leased.CurrentState()
	mine, ok := st.(states.Processing)
	if err != nil || !ok {
		return storage.StateRecord{}, false
	}
	for i := len(history) - 2; i >= 0; i-- {
		rec := history[i]
		if rec.State != states.NameProcessing {
			continue
		}
		if !bytes.Equal(rec.Data, leased.StateData) {
			st, err := states.Unmarshal(rec.State, rec.Data)
			p, ok := st.(states.Processing)
			if err != nil || !ok || !p.StartedAt.Equal(mine.StartedAt) || p.ServerID != mine.ServerID {
				continue
			}
		}
		return history[i+1], true
	}
	return storage.StateRecord{}, false
}
