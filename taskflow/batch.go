package taskflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// EnqueueBatch stores one job per element of args as one batch, in one
// atomic storage call. A continuation whose parent is the batch ID runs once
// every job of the batch has finished (see ContinueWith). A batch with no
// jobs is an error wrapping ErrInvalidOption.
func (b Bound[Args, Result]) EnqueueBatch(ctx context.Context, args []Args, opts ...JobOption) (*Batch[Result], error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: a batch of task %q needs at least one job", ErrInvalidOption, b.task.name)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("taskflow: new batch id: %w", err)
	}
	hs, err := b.enqueue(ctx, args, placement{batch: id}, jobSettingsOf(opts))
	if err != nil {
		return nil, err
	}
	return &Batch[Result]{ID: id, Handles: hs, client: b.client}, nil
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
	now := c.now()
	errs, err := c.changeMany(ctx, "cancel", ids, []states.Name{states.NameEnqueued, states.NameScheduled, states.NameAwaiting, states.NameProcessing},
		func(*storage.Job) states.State { return states.Deleted{DeletedAt: now, Reason: "batch canceled"} })
	n := 0
	for _, e := range errs {
		switch {
		case e == nil:
			n++
		case errors.Is(e, storage.ErrStateConflict), errors.Is(e, storage.ErrNotFound):
			// finished meanwhile
		case err == nil:
			err = e // an elect-state filter refused
		}
	}
	return n, err
}

// Wait waits for every job of the batch and returns their results in
// order. When jobs end without success it still returns the results of the
// others, in their places (the zero Result in the failed ones' places), with
// a *BatchError holding each job's error. When ctx is done, the jobs not
// finished by then have ctx's error.
func (b *Batch[Result]) Wait(ctx context.Context) ([]Result, error) {
	out := make([]Result, len(b.Handles))
	errs := make([]error, len(b.Handles))
	for i, h := range b.Handles {
		out[i], errs[i] = h.Wait(ctx)
	}
	return out, batchError(b.ID, errs)
}

// BatchError reports the jobs of a batch that did not succeed. It matches,
// with errors.Is and errors.As, what any of its errors matches: a
// *JobError, ErrJobFailed, ErrNotSucceeded, the registered errors a task
// failed with.
type BatchError struct {
	ID uuid.UUID // the batch
	// Errs holds one error per job of the batch, in the order the jobs were
	// created: nil for each job that succeeded.
	Errs []error
}

// batchError returns a *BatchError for errs, or nil if every one is nil.
func batchError(id uuid.UUID, errs []error) error {
	if !slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		return nil
	}
	return &BatchError{ID: id, Errs: errs}
}

func (e *BatchError) Error() string {
	failed := e.Unwrap()
	return fmt.Sprintf("taskflow: %d of %d jobs of batch %s did not succeed; the first: %v", len(failed), len(e.Errs), e.ID, failed[0])
}

// Unwrap returns the errors of the jobs that did not succeed.
func (e *BatchError) Unwrap() []error {
	return slices.DeleteFunc(slices.Clone(e.Errs), func(err error) bool { return err == nil })
}

// BatchResults returns, to a continuation of a batch (ContinueWith with a
// batch's ID as the parent), the results of the batch's jobs, decoded as
// results of task, in the order the jobs were created. As Batch.Wait does,
// it returns the results that exist with a *BatchError for the jobs that
// did not succeed; it does not wait. Called outside a task, or from a job
// that awaited no batch, it returns an error wrapping ErrInvalidOption. It
// needs a store that implements storage.Lister.
func BatchResults[Args, Result any](ctx context.Context, task *Task[Args, Result]) ([]Result, error) {
	c, ok := ClientFromContext(ctx)
	batch, _ := ctx.Value(parentKey{}).(uuid.UUID)
	if !ok || batch == uuid.Nil {
		return nil, fmt.Errorf("%w: BatchResults of %q: not called from a continuation", ErrInvalidOption, task.name)
	}
	l, err := c.lister()
	if err != nil {
		return nil, fmt.Errorf("taskflow: results of batch %s: %w", batch, err)
	}
	jobs, err := l.List(ctx, &storage.ListParams{BatchID: batch})
	if err != nil {
		return nil, fmt.Errorf("taskflow: results of batch %s: %w", batch, err)
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("%w: BatchResults of %q: job %s awaited no batch", ErrInvalidOption, task.name, batch)
	}
	slices.SortFunc(jobs, func(a, b *storage.Job) int { return bytes.Compare(a.ID[:], b.ID[:]) }) // UUIDv7: creation order
	out := make([]Result, len(jobs))
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		h := task.On(c).Handle(j.ID)
		var done bool
		out[i], done, errs[i] = h.outcome(j.Task, j.State, j.StateData)
		if errs[i] == nil && !done {
			errs[i] = fmt.Errorf("%w: job %s is %s", ErrNotSucceeded, j.ID, j.State)
		}
	}
	return out, batchError(batch, errs)
}
