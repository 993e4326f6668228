package taskflow

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// JobQuery selects jobs for Client.Jobs. Empty fields match every job.
type JobQuery struct {
	State   states.Name
	Queue   string
	Task    string
	BatchID uuid.UUID
	// ParentID selects the continuations of a job or batch.
	ParentID uuid.UUID
	// Offset and Limit page through the jobs in the order of
	// storage.Lister: Enqueued jobs in the order workers take them,
	// Scheduled ones by due time, the others newest first. A zero Limit
	// means DefaultJobsLimit; a negative one, no limit.
	Offset, Limit int
	// Cursor continues a list after a job of the previous page (its
	// JobInfo.Cursor), at the same cost at any depth; Backward walks
	// towards the start instead, nearest first (see storage.ListParams).
	Cursor   string
	Backward bool
}

// DefaultJobsLimit is how many jobs Client.Jobs returns unless JobQuery.Limit
// says otherwise.
const DefaultJobsLimit = 50

// Jobs returns the jobs q selects, in the order of JobQuery.Offset, without their history,
// logs and progress (Client.Job has them). It needs a store that implements
// storage.Lister.
func (c *Client) Jobs(ctx context.Context, q JobQuery) ([]*JobInfo, error) {
	l, err := c.lister()
	if err != nil {
		return nil, fmt.Errorf("taskflow: list jobs: %w", err)
	}
	if q.State != "" && !q.State.Valid() {
		return nil, fmt.Errorf("taskflow: list jobs: unknown state %q (want one of %v)", q.State, states.Names)
	}
	q.Limit = storeLimit(q.Limit)
	jobs, err := l.List(ctx, &storage.ListParams{State: q.State, Queue: q.Queue, Task: q.Task, BatchID: q.BatchID,
		ParentID: q.ParentID, Offset: max(q.Offset, 0), Limit: q.Limit, Cursor: q.Cursor, Backward: q.Backward})
	if err != nil {
		return nil, fmt.Errorf("taskflow: list jobs: %w", err)
	}
	out := make([]*JobInfo, 0, len(jobs))
	for _, j := range jobs {
		info, err := newJobInfo(j)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// JobCounts are the numbers of jobs per state.
type JobCounts struct {
	Jobs map[states.Name]int64
	// Estimated names the states whose numbers are estimates (see
	// storage.Estimator: on PostgreSQL, succeeded and deleted above 100,000
	// jobs); the others are exact.
	Estimated []states.Name
	// Held is how many of the Enqueued jobs a full limit holds back now:
	// jobs a worker would not be given at this moment because a limit that
	// applies to them (their queue's, their task's or their partition's)
	// has every concurrency slot in use or its rate spent until its next
	// start. A job held by several limits counts once. It is exact, and 0
	// on a store without storage.FlowControl. The other Enqueued jobs
	// (Ready) wait only for a worker, or for their queue to be resumed.
	Held int64
}

// Ready is how many Enqueued jobs no limit holds back: Enqueued less Held.
func (c JobCounts) Ready() int64 { return max(c.Jobs[states.NameEnqueued]-c.Held, 0) }

// JobCounts counts jobs per state. On a store that implements
// storage.Estimator, the states too costly to count exactly on a large
// store are estimated, and JobCounts.Estimated names them, so a dashboard
// can call it every few seconds. It needs a store that implements
// storage.Lister.
func (c *Client) JobCounts(ctx context.Context) (JobCounts, error) {
	return c.QueueJobCounts(ctx, "")
}

// QueueJobCounts is JobCounts for the jobs of one queue ("": every queue).
// On PostgreSQL a queue's succeeded and deleted jobs are estimated on a
// large table, as the whole table's are.
func (c *Client) QueueJobCounts(ctx context.Context, queue string) (JobCounts, error) {
	out, err := c.queueJobCounts(ctx, queue)
	if err != nil {
		return JobCounts{}, err
	}
	held, err := c.held(ctx)
	if err != nil {
		return JobCounts{}, fmt.Errorf("taskflow: count jobs: %w", err)
	}
	for q, n := range held {
		if queue == "" || q == queue {
			out.Held += n
		}
	}
	// Two reads: a job may have moved between them.
	out.Held = min(out.Held, out.Jobs[states.NameEnqueued])
	return out, nil
}

// held returns, per queue, the Enqueued jobs that full limits hold back
// (storage.HeldCounter); none on a store without flow control.
func (c *Client) held(ctx context.Context) (map[string]int64, error) {
	hc, ok := c.store.(storage.HeldCounter)
	if !ok {
		return nil, nil
	}
	return hc.CountHeld(ctx)
}

func (c *Client) queueJobCounts(ctx context.Context, queue string) (JobCounts, error) {
	if e, ok := c.store.(storage.Estimator); ok {
		counts, exact, err := e.EstimateCount(ctx, queue)
		if err != nil {
			return JobCounts{}, fmt.Errorf("taskflow: count jobs: %w", err)
		}
		out := JobCounts{Jobs: counts}
		for _, st := range states.Names {
			if !contains(exact, st) {
				out.Estimated = append(out.Estimated, st)
			}
		}
		return out, nil
	}
	l, err := c.lister()
	if err == nil {
		var counts map[states.Name]int64
		if counts, err = l.Count(ctx, queue); err == nil {
			return JobCounts{Jobs: counts}, nil
		}
	}
	return JobCounts{}, fmt.Errorf("taskflow: count jobs: %w", err)
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (c *Client) lister() (storage.Lister, error) {
	return capability[storage.Lister](c.store)
}

// BatchProgress counts the jobs of batch id by outcome. It needs a store
// that implements storage.Batches.
func (c *Client) BatchProgress(ctx context.Context, id uuid.UUID) (BatchProgress, error) {
	bs, err := capability[storage.Batches](c.store)
	if err != nil {
		return BatchProgress{}, fmt.Errorf("taskflow: batch progress: %w", err)
	}
	counts, err := bs.BatchProgress(ctx, id)
	if err != nil {
		return BatchProgress{}, fmt.Errorf("taskflow: batch %s progress: %w", id, err)
	}
	var p BatchProgress
	for name, n := range counts {
		p.Total += int(n)
		switch name {
		case states.NameSucceeded:
			p.Succeeded += int(n)
		case states.NameFailed:
			p.Failed += int(n)
		case states.NameDeleted:
			p.Deleted += int(n)
		default:
			p.Pending += int(n)
		}
	}
	return p, nil
}

// CancelBatch deletes every job of batch id that has not finished, as
// Batch.Cancel does, for a batch known only by its id. It needs a store
// that implements storage.Lister.
func (c *Client) CancelBatch(ctx context.Context, id uuid.UUID) (int, error) {
	l, err := c.lister()
	if err != nil {
		return 0, fmt.Errorf("taskflow: cancel batch %s: %w", id, err)
	}
	jobs, err := l.List(ctx, &storage.ListParams{BatchID: id})
	if err != nil {
		return 0, fmt.Errorf("taskflow: cancel batch %s: %w", id, err)
	}
	ids := make([]uuid.UUID, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return c.cancel(ctx, ids)
}

// BatchQuery pages through the batches that have jobs, newest first.
type BatchQuery struct {
	// Cursor continues the list after a batch of the previous page (a
	// batch's place is its ID), at the same cost at any depth; Backward
	// walks towards the newest instead, from Cursor or from the oldest
	// batch, nearest first (see storage.BatchListParams).
	Cursor   uuid.UUID
	Backward bool
	// Limit is the most batches to return: zero means DefaultJobsLimit; a
	// negative one, no limit.
	Limit int
}

// storeLimit is the store's limit (zero: none) of a query's Limit (zero:
// DefaultJobsLimit; negative: none).
func storeLimit(n int) int {
	switch {
	case n == 0:
		return DefaultJobsLimit
	case n < 0:
		return 0
	}
	return n
}

// Batches returns the IDs of the batches that have jobs, newest first,
// from q's place. It needs a store that implements storage.BatchLister.
func (c *Client) Batches(ctx context.Context, q BatchQuery) ([]uuid.UUID, error) {
	bl, err := capability[storage.BatchLister](c.store)
	if err != nil {
		return nil, fmt.Errorf("taskflow: list batches: %w", err)
	}
	q.Limit = storeLimit(q.Limit)
	ids, err := bl.ListBatches(ctx, &storage.BatchListParams{Cursor: q.Cursor, Backward: q.Backward, Limit: q.Limit})
	if err != nil {
		return nil, fmt.Errorf("taskflow: list batches: %w", err)
	}
	return ids, nil
}
