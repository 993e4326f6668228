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
	return first(c.DeleteMany(ctx, []uuid.UUID{id}))
}

// Requeue moves job id to Enqueued in its queue, from any state. A running
// job loses its lease: its context is cancelled within about a second (the
// cause matches ErrJobRequeued), its outcome is discarded, and it runs
// again as a new attempt.
func (c *Client) Requeue(ctx context.Context, id uuid.UUID) error {
	return first(c.RequeueMany(ctx, []uuid.UUID{id}))
}

// deletable lists the states Delete moves a job from.
var deletable = []states.Name{states.NameEnqueued, states.NameScheduled, states.NameAwaiting, states.NameProcessing, states.NameSucceeded, states.NameFailed}

// DeleteMany deletes each of ids as Delete does: it reads each job, then
// changes them in one store call per 1,000 jobs. It returns one error per
// id, nil for each job deleted; when the store fails, that error too, and
// in place of each job not changed.
func (c *Client) DeleteMany(ctx context.Context, ids []uuid.UUID) ([]error, error) {
	now := c.now()
	return c.changeMany(ctx, "delete", ids, deletable, func(*storage.Job) states.State {
		return states.Deleted{DeletedAt: now, Reason: "deleted by request"}
	})
}

// RequeueMany requeues each of ids as Requeue does: it reads each job, then
// changes them in one store call per 1,000 jobs. It returns one error per id, nil
// for each job requeued; when the store fails, that error too, and in
// place of each job not changed.
func (c *Client) RequeueMany(ctx context.Context, ids []uuid.UUID) ([]error, error) {
	now := c.now()
	return c.changeMany(ctx, "requeue", ids, nil, func(j *storage.Job) states.State {
		return states.Enqueued{Queue: j.Queue, EnqueuedAt: now, Reason: "requeued by request"}
	})
}

// first returns the error of a call on one job.
func first(errs []error, err error) error {
	if err != nil {
		return err
	}
	return errs[0]
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
	if to == nil {
		return fmt.Errorf("%w: nil state", ErrInvalidOption)
	}
	return first(c.changeMany(ctx, "change state of", []uuid.UUID{id}, from, func(*storage.Job) states.State { return to }))
}

// changeBatch is how many jobs changeMany reads and changes per store call.
const changeBatch = 1000

// changeMany reads each of ids (without history where the store can),
// checks it is in one of the states from (any when from is empty), elects
// to(job) through the client's filters and the task's, and stores the
// changes as compare-and-sets against the states read, then tells the
// apply-state filters and the events hub.
// An id given twice is changed once and gets the same error both times.
func (c *Client) changeMany(ctx context.Context, op string, ids []uuid.UUID, from []states.Name, to func(*storage.Job) states.State) ([]error, error) {
	firstAt := make(map[uuid.UUID]int, len(ids))
	unique := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if _, seen := firstAt[id]; !seen {
			firstAt[id] = len(unique)
			unique = append(unique, id)
		}
	}
	errs := make([]error, len(unique))
	var err error
	for lo := 0; lo < len(unique); lo += changeBatch {
		hi := min(lo+changeBatch, len(unique))
		if err = c.changeBatch(ctx, op, unique[lo:hi], errs[lo:hi], from, to); err != nil {
			for k := lo; k < len(unique); k++ { // this batch and the ones after were not stored
				if errs[k] == nil {
					errs[k] = err
				}
			}
			break
		}
	}
	out := make([]error, len(ids))
	for i, id := range ids {
		out[i] = errs[firstAt[id]]
	}
	return out, err
}

func (c *Client) changeBatch(ctx context.Context, op string, ids []uuid.UUID, errs []error, from []states.Name, to func(*storage.Job) states.State) error {
	type change struct {
		i   int
		job *storage.Job
		ec  *filters.ElectStateContext
		p   *pipeline
	}
	var (
		changes []change
		trs     []storage.Transition
	)
	now := c.now()
	for i, id := range ids {
		j, err := c.read(ctx, id)
		switch {
		case err == nil && len(from) > 0 && !slices.Contains(from, j.State):
			err = fmt.Errorf("it is %s, not one of %v: %w", j.State, from, storage.ErrStateConflict)
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return jobError(op, id, err)
		}
		if err != nil {
			errs[i] = jobError(op, id, err)
			continue
		}
		ec := filters.NewElectStateContext(filters.NewJob(j), j.State, to(j), nil, now)
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
			errs[i] = err
			continue
		}
		tr.From = []states.Name{j.State} // what was read: a concurrent change makes this a conflict
		if tr.To.Expires() && ec.Retention > 0 {
			tr.ExpireAt = now.Add(ec.Retention)
		}
		changes, trs = append(changes, change{i, j, ec, p}), append(trs, tr)
	}
	if len(trs) == 0 {
		return nil
	}
	terrs, err := c.store.Transition(ctx, &storage.TransitionParams{Transitions: trs, Now: now, Retention: c.retention})
	if err != nil {
		return fmt.Errorf("taskflow: %s %d job(s): %w", op, len(trs), err)
	}
	for k, ch := range changes {
		j := ch.job
		if terrs[k] != nil {
			errs[ch.i] = jobError(fmt.Sprintf("move from %s to %s", j.State, trs[k].To), j.ID, terrs[k])
			continue
		}
		st := ch.ec.Candidate()
		ch.p.applied(ctx, j, j.State, st)
		if c.events.active() {
			c.events.publish(Event{Kind: eventOf(st, nil), JobID: j.ID, Task: j.Task, Queue: j.Queue, Attempt: j.Attempt, At: now, State: st})
		}
	}
	return nil
}

// read reads job id's current state, in the client's store (inside its
// transaction, if bound to one), without its history where it can.
func (c *Client) read(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	if p, ok := c.store.(storage.Peeker); ok {
		return p.Peek(ctx, id)
	}
	return c.store.Get(ctx, id)
}
