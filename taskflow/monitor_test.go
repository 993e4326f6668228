package taskflow_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
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
		{"by state and queue", taskflow.JobQuery{State: states.NameEnqueued, Queue: "images"}, []uuid.UUID{resized[2], resized[1]}},
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

	batches, err := e.client.Batches(ctx, 0, 10)
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
