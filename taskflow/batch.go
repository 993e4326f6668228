package taskflow

import (
	"context"
	"errors"
	"fmt"

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
