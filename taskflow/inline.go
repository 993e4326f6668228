package taskflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/internal/reaper"
	"github.com/taskflow-go/taskflow/internal/recurring"
	"github.com/taskflow-go/taskflow/internal/scheduler"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// This file holds the two steps that let a test, or a program of its own
// making, drive a worker by hand, one job at a time and with no goroutine:
// RunNext and Maintain (package taskflowtest builds on them). Run does the
// same work in the background.

// Ran is how one job run by Worker.RunNext ended.
type Ran struct {
	ID      uuid.UUID
	Task    string
	Queue   string
	Attempt int    // 1 for the first run
	Args    []byte // encoded
	// State is the state stored when the attempt ended: Succeeded;
	// Scheduled or Enqueued for a retry; Failed or Deleted once retries
	// are used up (or the error is permanent, or bad input); Scheduled
	// again for a task the worker does not know, as on a rolling deploy.
	// It is nil when the job was taken from the attempt while it ran
	// (deleted, requeued, moved): the outcome was discarded.
	State states.State
	// Err is the task's error: nil on success. A panic wraps ErrPanic,
	// args that do not decode wrap ErrDecode and filters.ErrBadInput, and
	// a task missing from the worker's registry wraps ErrUnknownTask.
	Err error
}

// RunNext leases the next job due in queues (the worker's Queues when none
// are given), in the order the store serves jobs, and runs it in the
// calling goroutine through the same steps as Run: the server filters, the
// job's timeout, panic recovery, the retry policy and the elect-state
// filters; then it stores the outcome, which resolves the job's
// continuations, and runs the apply-state filters and publishes Events. It
// returns once the outcome is stored, and what the task logged with it. It
// reports false when no job is due.
//
// RunNext does no upkeep: due Scheduled jobs are not promoted and
// recurring jobs do not fire until Maintain runs. It returns
// ErrWorkerRunning while Run or another RunNext runs on the worker.
func (w *Worker) RunNext(ctx context.Context, queues ...string) (Ran, bool, error) {
	if !w.running.CompareAndSwap(false, true) {
		return Ran{}, false, ErrWorkerRunning
	}
	defer w.running.Store(false)
	if len(queues) == 0 {
		queues = w.opts.Queues
	}
	o := &w.opts
	got, err := w.store.Fetch(ctx, &storage.FetchParams{
		Queues: queues, Limit: 1, Owner: o.ID, LeaseFor: o.LeaseDuration, Now: o.Clock(),
	})
	if err != nil || len(got) == 0 {
		return Ran{}, false, err
	}
	j := got[0]
	ran := Ran{ID: j.ID, Task: j.Task, Queue: j.Queue, Attempt: j.Attempt, Args: j.Args}
	a := &attempt{report: &ran}
	w.mu.Lock()
	w.holdLocked(a, j)
	w.mu.Unlock()
	defer w.release(a) // even when a filter panics: a later fetch of the job must not find it held
	w.inflight.Add(1)
	w.execute(ctx, a)
	if w.runtime(j.Task).entry == nil {
		ran.Err = fmt.Errorf("%w %q", ErrUnknownTask, j.Task)
	}
	if w.jobLogs != nil {
		w.journals.flush(context.WithoutCancel(ctx))
	}
	return ran, true, nil
}

// Maintain does once, in the calling goroutine and at the worker's Clock,
// the upkeep Run does in the background: it returns jobs whose lease has
// expired to their queue, removes workers that stopped sending heartbeats
// (on stores that implement storage.Workers), promotes due Scheduled jobs
// (delayed jobs and retries), fires due recurring jobs through the
// worker's and the task's filters, and removes finished jobs whose
// retention has passed. It returns the earliest time a Scheduled job or a
// recurring occurrence becomes due (zero if none), so that a caller
// driving a fake clock knows where to move it next.
func (w *Worker) Maintain(ctx context.Context) (next time.Time, err error) {
	o := &w.opts
	errs := []error{reaper.Reclaim(ctx, w.store, o.Clock, w.log)}
	if srv, ok := w.store.(storage.Workers); ok {
		errs = append(errs, reaper.RemoveDeadWorkers(ctx, srv, o.WorkerTimeout, w.log))
	}
	next, err = scheduler.PromoteAll(ctx, w.store, o.Clock())
	errs = append(errs, err)
	if rs, ok := w.store.(storage.Recurring); ok {
		for {
			at, due, err := recurring.Tick(ctx, rs, o.Clock(), recurringSpawner{w}, w.log)
			errs = append(errs, err)
			if !at.IsZero() && (next.IsZero() || at.Before(next)) {
				next = at
			}
			if err != nil || due < recurring.Batch {
				break
			}
		}
	}
	errs = append(errs, reaper.Prune(ctx, w.store, o.Clock, w.log))
	if err := errors.Join(errs...); err != nil {
		return next, fmt.Errorf("taskflow: worker %s upkeep: %w", o.ID, err)
	}
	return next, nil
}

// storeNow stores one transition at once, as the completer would, and
// tells done how it went.
func (w *Worker) storeNow(tr storage.Transition, done func(error)) {
	errs, err := w.store.Transition(context.Background(), &storage.TransitionParams{
		Transitions: []storage.Transition{tr}, Now: w.opts.Clock(), Retention: w.opts.Retention,
	})
	if err == nil {
		err = errs[0]
	}
	done(err)
}
