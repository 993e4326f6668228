package taskflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Delete moves job id to Deleted, from any state but Deleted. A running job
// has its context cancelled within about a second (at its worker's next
// heartbeat; the cause matches ErrJobDeleted), and no other final state is
// recorded for it.
func (c *Client) Delete(ctx context.Context, id uuid.UUID) error {
	return c.ChangeState(ctx, id, states.Deleted{DeletedAt: c.now(), Reason: "deleted by request"},
		states.NameEnqueued, states.NameScheduled, states.NameAwaiting, states.NameProcessing, states.NameSucceeded, states.NameFailed)
}

// Requeue moves job id to Enqueued in its queue, from any state. A running
// job loses its lease: its context is cancelled within about a second (the
// cause matches ErrJobRequeued), its outcome is discarded, and it runs
// again as a new attempt.
func (c *Client) Requeue(ctx context.Context, id uuid.UUID) error {
	j, err := c.store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("taskflow: requeue job %s: %w", id, err)
	}
	return c.changeState(ctx, j, states.Enqueued{Queue: j.Queue, EnqueuedAt: c.now(), Reason: "requeued by request"})
}

// Reschedule moves job id to Scheduled, to run at at, from any state. A
// running job has its context cancelled (the cause matches
// ErrJobRescheduled) and runs again at at.
func (c *Client) Reschedule(ctx context.Context, id uuid.UUID, at time.Time) error {
	return c.ChangeState(ctx, id, states.Scheduled{EnqueueAt: at, ScheduledAt: c.now(), Reason: "rescheduled by request"})
}

// ChangeState moves job id to state to, through the client's elect-state
// filters, if the job is in one of the states from (any state when from is
// empty). Otherwise it returns an error wrapping ErrStateConflict
// and changes nothing. A running job moved out of Processing has its
// context cancelled within about a second, with a cause naming the new
// state, and its outcome is discarded.
func (c *Client) ChangeState(ctx context.Context, id uuid.UUID, to states.State, from ...states.Name) error {
	j, err := c.store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("taskflow: change state of job %s: %w", id, err)
	}
	if len(from) > 0 && !slices.Contains(from, j.State) {
		return fmt.Errorf("taskflow: job %s is %s, not one of %v: %w", id, j.State, from, storage.ErrStateConflict)
	}
	return c.changeState(ctx, j, to)
}

// changeState elects (the client's filters, then the task's) and stores a
// state change of j, as a compare-and-set against the state j was read in,
// then tells the apply-state filters.
func (c *Client) changeState(ctx context.Context, j *storage.Job, to states.State) error {
	if to == nil {
		return fmt.Errorf("%w: nil state", ErrInvalidOption)
	}
	now := c.now()
	ec := filters.NewElectStateContext(filters.NewJob(j), j.State, to, nil, now)
	ec.Retention = c.retention
	p := c.global
	if e := c.registry.lookup(j.Task); e != nil {
		if e.opts.retention > 0 {
			ec.Retention = e.opts.retention
		}
		if len(e.opts.filters) > 0 {
			p = newPipeline(c.filters, e.opts.filters)
		}
	}
	tr, err := p.electState(ctx, ec)
	if err != nil {
		return err
	}
	tr.From = []states.Name{j.State} // what was read: a concurrent change makes this a conflict
	if tr.To.IsFinal() && ec.Retention > 0 {
		tr.ExpireAt = now.Add(ec.Retention)
	}
	errs, err := c.store.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{tr}, Now: now, Retention: c.retention})
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		return fmt.Errorf("taskflow: move job %s from %s to %s: %w", j.ID, j.State, tr.To, err)
	}
	p.applied(ctx, j, j.State, ec.Candidate())
	if c.events.active() {
		st := ec.Candidate()
		c.events.publish(Event{Kind: eventOf(st, nil), JobID: j.ID, Task: j.Task, Queue: j.Queue, Attempt: j.Attempt, At: now, State: st})
	}
	return nil
}

// Batch is a set of jobs created together by EnqueueBatch.
type Batch[Result any] struct {
	ID      uuid.UUID
	Handles []*Handle[Result]
	client  *Client
}

// BatchProgress counts a batch's jobs.
type BatchProgress struct {
	Total     int
	Succeeded int
	Failed    int // failed for good
	Deleted   int
	Pending   int // not finished yet
}

// Done reports whether every job of the batch has finished.
func (p BatchProgress) Done() bool { return p.Pending == 0 }

// Progress counts the batch's jobs by outcome. It needs a store that
// implements storage.Batches.
func (b *Batch[Result]) Progress(ctx context.Context) (BatchProgress, error) {
	return b.client.BatchProgress(ctx, b.ID)
}

// Cancel deletes every job of the batch that has not finished; running ones
// have their contexts cancelled. It returns how many it deleted.
func (b *Batch[Result]) Cancel(ctx context.Context) (int, error) {
	ids := make([]uuid.UUID, len(b.Handles))
	for i, h := range b.Handles {
		ids[i] = h.ID
	}
	return b.client.cancel(ctx, ids)
}

// cancel deletes each of ids that has not finished and returns how many it
// deleted.
func (c *Client) cancel(ctx context.Context, ids []uuid.UUID) (int, error) {
	n := 0
	for _, id := range ids {
		err := c.ChangeState(ctx, id, states.Deleted{DeletedAt: c.now(), Reason: "batch canceled"},
			states.NameEnqueued, states.NameScheduled, states.NameAwaiting, states.NameProcessing)
		switch {
		case err == nil:
			n++
		case errors.Is(err, storage.ErrStateConflict), errors.Is(err, storage.ErrNotFound):
			// finished meanwhile
		default:
			return n, err
		}
	}
	return n, nil
}

// Wait waits for every job of the batch and returns their results in order.
// It stops at the first job that ends without success and returns its error.
func (b *Batch[Result]) Wait(ctx context.Context) ([]Result, error) {
	out := make([]Result, len(b.Handles))
	for i, h := range b.Handles {
		r, err := h.Wait(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}
