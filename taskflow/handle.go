package taskflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Handle refers to one job of a task whose result type is Result. It reads
// the job outside any transaction the job was enqueued in, so a handle from
// an enqueue in a transaction works once the transaction commits.
type Handle[Result any] struct {
	ID uuid.UUID
	// Existing reports that the enqueue stored no job: one holding the same
	// unique key (Unique, UniqueByArgs) stands for it, and ID is that job's.
	Existing bool
	client   *Client
	codec    Codec
}

// Job returns the job with its state and history.
func (h *Handle[Result]) Job(ctx context.Context) (*JobInfo, error) {
	if h.client == nil {
		return nil, ErrNotConfigured
	}
	j, err := h.client.reader.Get(ctx, h.ID)
	if err != nil {
		return nil, jobError("get", h.ID, err)
	}
	return newJobInfo(j)
}

// Result returns the decoded result if the job has succeeded. Otherwise it
// returns a *JobError (for a job Failed for good or Deleted) or an error
// wrapping ErrNotSucceeded (for a job still on its way).
func (h *Handle[Result]) Result(ctx context.Context) (Result, error) {
	var zero Result
	if h.client == nil {
		return zero, ErrNotConfigured
	}
	j, err := h.client.peek(ctx, h.ID)
	if err != nil {
		return zero, jobError("read the result of", h.ID, err)
	}
	res, done, err := h.outcome(j.Task, j.State, j.StateData)
	if err == nil && !done {
		err = fmt.Errorf("%w: job %s is %s", ErrNotSucceeded, h.ID, j.State)
	}
	return res, err
}

// outcome decodes a job's result once it has ended.
func (h *Handle[Result]) outcome(task string, name states.Name, data []byte) (res Result, done bool, err error) {
	switch name {
	case states.NameSucceeded, states.NameFailed, states.NameDeleted:
	default:
		return res, false, nil
	}
	st, err := states.Unmarshal(name, data)
	if err != nil {
		return res, true, fmt.Errorf("taskflow: job %s: %w", h.ID, err)
	}
	s, ok := st.(states.Succeeded)
	if !ok {
		return res, true, &JobError{ID: h.ID, Task: task, State: st}
	}
	if err := h.codec.Unmarshal(s.Result, &res); err != nil {
		return res, true, fmt.Errorf("%w result of job %s (%s): %w", ErrDecode, h.ID, task, err)
	}
	return res, true, nil
}

// Wait blocks until the job has succeeded and returns its decoded result,
// or until it has Failed for good or been Deleted and returns a *JobError,
// or until ctx is done. A Failed job is waited for no longer: retries move a
// job to Scheduled, never to Failed, so Failed means no retry is planned.
// It reads the job's state only, not its history, and is woken when jobs
// finish where the store can notify (one subscription per client, shared
// by its waiting handles); otherwise it polls, backing off to 100 ms.
// A failed read of the store (a lost connection, say) does not end the
// wait: Wait tries again, until ctx is done; a job that no longer exists
// does.
func (h *Handle[Result]) Wait(ctx context.Context) (Result, error) {
	if h.client == nil {
		var zero Result
		return zero, ErrNotConfigured
	}
	const maxRetry = time.Second
	maxPoll := 100 * time.Millisecond
	finished, unwatch := h.client.watch()
	defer unwatch()
	if _, ok := h.client.reader.(storage.Notifier); ok {
		maxPoll = time.Second // a safety net: wake-ups do the work
	}
	poll, retry := time.Millisecond, 10*time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	var zero Result
	for {
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("taskflow: wait for job %s: %w", h.ID, context.Cause(ctx))
		case <-timer.C:
		case <-finished:
		}
		j, err := h.client.peek(ctx, h.ID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return zero, jobError("wait for", h.ID, err)
		case err != nil && ctx.Err() != nil:
			return zero, fmt.Errorf("taskflow: wait for job %s: %w", h.ID, context.Cause(ctx))
		case err != nil:
			timer.Reset(retry)
			retry = min(retry*2, maxRetry)
			continue
		}
		retry = 10 * time.Millisecond
		if res, done, err := h.outcome(j.Task, j.State, j.StateData); done {
			return res, err
		}
		timer.Reset(poll)
		poll = min(poll*2, maxPoll)
	}
}
