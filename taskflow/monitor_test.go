package taskflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

func TestJobsAndJobCounts(t *testing.T) {
	e := setup(t)
	noop := func(context.Context, int) (int, error) { return 0, nil }
	resize, err := taskflow.RegisterTask(e.reg, "resize", noop, taskflow.Queue("images"))
	require.NoError(t, err)
	mail, err := taskflow.RegisterTask(e.reg, "mail", noop)
	require.NoError(t, err)
	ctx := waitCtx(t)
	var resized []uuid.UUID
	for i := range 3 {
		h, err := resize.On(e.client).Enqueue(ctx, i)
		require.NoError(t, err)
		resized = append(resized, h.ID)
	}
	b, err := mail.On(e.client).EnqueueBatch(ctx, []int{1, 2})
	require.NoError(t, err)
	require.NoError(t, e.client.Delete(ctx, resized[0]))
	cont, err := mail.On(e.client).ContinueWith(ctx, resized[1], 9)
	require.NoError(t, err)

	tests := []struct {
		name string
		q    taskflow.JobQuery
		want []uuid.UUID
	}{
		{"by task, newest first", taskflow.JobQuery{Task: "resize"}, []uuid.UUID{resized[2], resized[1], resized[0]}},
		{"by state and queue, as workers take them", taskflow.JobQuery{State: states.NameEnqueued, Queue: "images"}, []uuid.UUID{resized[1], resized[2]}},
		{"by batch", taskflow.JobQuery{BatchID: b.ID}, []uuid.UUID{b.Handles[1].ID, b.Handles[0].ID}},
		{"paged", taskflow.JobQuery{Task: "resize", Offset: 1, Limit: 1}, []uuid.UUID{resized[1]}},
		{"continuations", taskflow.JobQuery{ParentID: resized[1]}, []uuid.UUID{cont.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := e.client.Jobs(ctx, tt.q)
			require.NoError(t, err)
			var got []uuid.UUID
			for _, j := range jobs {
				got = append(got, j.ID)
			}
			require.Equal(t, tt.want, got)
		})
	}

	_, err = e.client.Jobs(ctx, taskflow.JobQuery{State: "finished"})
	require.ErrorContains(t, err, `unknown state "finished"`)

	counts, err := e.client.JobCounts(ctx)
	require.NoError(t, err)
	require.Empty(t, counts.Estimated, "memstore counts exactly")
	require.Equal(t, map[states.Name]int64{states.NameEnqueued: 4, states.NameAwaiting: 1, states.NameDeleted: 1}, counts.Jobs)
	for queue, want := range map[string]map[states.Name]int64{
		"images":  {states.NameEnqueued: 2, states.NameDeleted: 1},
		"default": {states.NameEnqueued: 2, states.NameAwaiting: 1},
		"nothing": {},
	} {
		counts, err := e.client.QueueJobCounts(ctx, queue)
		require.NoError(t, err)
		for st, n := range counts.Jobs { // a store may list a state it has none of
			if n == 0 {
				delete(counts.Jobs, st)
			}
		}
		require.Equal(t, want, counts.Jobs, "queue %s", queue)
	}

	batches, err := e.client.Batches(ctx, taskflow.BatchQuery{})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{b.ID}, batches)

	jobs, err := e.client.Jobs(ctx, taskflow.JobQuery{BatchID: b.ID, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, b.ID, jobs[0].BatchID, "JobInfo names the batch")

	n, err := e.client.CancelBatch(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	p, err := e.client.BatchProgress(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, taskflow.BatchProgress{Total: 2, Deleted: 2}, p)
	require.True(t, p.Done())
}

func TestRequeueManyAndDeleteMany(t *testing.T) {
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "t", func(context.Context, int) (int, error) { return 0, nil })
	require.NoError(t, err)
	ctx := waitCtx(t)
	hs, err := task.On(e.client).EnqueueMany(ctx, []int{1, 2, 3})
	require.NoError(t, err)
	a, b, gone := hs[0].ID, hs[1].ID, hs[2].ID
	require.NoError(t, e.client.Delete(ctx, gone))
	unknown := newID(t)

	tests := []struct {
		name  string
		call  func(context.Context, []uuid.UUID) ([]error, error)
		ids   []uuid.UUID
		want  []error // nil: moved
		state states.Name
	}{
		{"requeue, a deleted job too", e.client.RequeueMany, []uuid.UUID{a, gone, unknown}, []error{nil, nil, taskflow.ErrNotFound}, states.NameEnqueued},
		{"delete, one named twice", e.client.DeleteMany, []uuid.UUID{a, b, b, unknown}, []error{nil, nil, nil, taskflow.ErrNotFound}, states.NameDeleted},
		{"delete what is deleted", e.client.DeleteMany, []uuid.UUID{b}, []error{taskflow.ErrStateConflict}, states.NameDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs, err := tt.call(ctx, tt.ids)
			require.NoError(t, err)
			require.Len(t, errs, len(tt.ids))
			for i, want := range tt.want {
				if want == nil {
					require.NoError(t, errs[i], "job %d", i)
					info, err := e.client.Job(ctx, tt.ids[i])
					require.NoError(t, err)
					require.Equal(t, tt.state, info.State.Name())
					continue
				}
				require.ErrorIs(t, errs[i], want, "job %d", i)
				require.ErrorContains(t, errs[i], tt.ids[i].String(), "the error names the job")
			}
		})
	}
}

// TestJobCountsTellHeldFromReady: a partition limit held full holds back
// the rest of its partition's jobs; the other Enqueued jobs are ready.
func TestJobCountsTellHeldFromReady(t *testing.T) {
	e := setup(t)
	ctx := waitCtx(t)
	acct, err := taskflow.RegisterTask(e.reg, "acct", acctNoop,
		taskflow.PartitionBy(byAccount))
	require.NoError(t, err)
	mail, err := taskflow.RegisterTask(e.reg, "mail", func(context.Context, int) (int, error) { return 0, nil }, taskflow.Queue("other"))
	require.NoError(t, err)
	require.NoError(t, e.store.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "acct", Concurrency: 1}}))
	_, err = acct.On(e.client).EnqueueMany(ctx, []acctArgs{{Account: "a"}, {Account: "a"}, {Account: "a"}})
	require.NoError(t, err)
	leased, err := e.store.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "w", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, leased, 1)
	_, err = acct.On(e.client).EnqueueMany(ctx, []acctArgs{{Account: "b"}, {Account: "b"}})
	require.NoError(t, err)
	_, err = mail.On(e.client).EnqueueMany(ctx, []int{1, 2})
	require.NoError(t, err)

	for _, tt := range []struct {
		queue                 string
		enqueued, held, ready int64
	}{
		{"", 6, 2, 4},
		{"default", 4, 2, 2},
		{"other", 2, 0, 2},
	} {
		counts, err := e.client.QueueJobCounts(ctx, tt.queue)
		require.NoError(t, err)
		require.Equal(t, tt.enqueued, counts.Jobs[states.NameEnqueued], "queue %q", tt.queue)
		require.Equal(t, tt.held, counts.Held, "queue %q: held", tt.queue)
		require.Equal(t, tt.ready, counts.Ready(), "queue %q: ready", tt.queue)
	}
	qs, err := e.client.Queues(ctx)
	require.NoError(t, err)
	held := map[string]int64{}
	for _, q := range qs {
		held[q.Name] = q.Held
	}
	require.Equal(t, map[string]int64{"default": 2, "other": 0}, held)
}
