package taskflowtest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowtest"
)

// seen is what a task saw of its job context.
type seen struct {
	id      uuid.UUID
	attempt int
	queue   string
	region  string
}

// TestWork runs one task per case and checks its result, error, state,
// job context, logs and progress.
func TestWork(t *testing.T) {
	t.Parallel()
	errDown := errors.New("mail server down")
	tests := []struct {
		name      string
		args      int
		opts      taskflowtest.WorkOptions
		taskOpts  []taskflow.TaskOption
		want      string
		wantErr   error
		wantState states.Name
		wantSeen  seen // id is checked against the run's
	}{
		{name: "Succeeds", args: 2, want: "2 sent", wantState: states.NameSucceeded, wantSeen: seen{attempt: 1, queue: "default"}},
		{name: "FailsAndWouldBeRetried", args: -1, wantErr: errDown, wantState: states.NameScheduled, wantSeen: seen{attempt: 1, queue: "default"}},
		{name: "LastAttemptFailsForGood", args: -1, opts: taskflowtest.WorkOptions{Attempt: 3},
			taskOpts: []taskflow.TaskOption{taskflow.MaxRetries(2)}, wantErr: errDown, wantState: states.NameFailed,
			wantSeen: seen{attempt: 3, queue: "default"}},
		{name: "Panics", args: 0, wantErr: taskflow.ErrPanic, wantState: states.NameScheduled, wantSeen: seen{attempt: 1, queue: "default"}},
		{name: "JobOptions", args: 1, opts: taskflowtest.WorkOptions{Job: []taskflow.JobOption{taskflow.Queue("mail"), taskflow.Param("region", "eu")}},
			want: "1 sent", wantState: states.NameSucceeded, wantSeen: seen{attempt: 1, queue: "mail", region: "eu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			reg := taskflow.NewRegistry()
			var got seen
			send, err := taskflow.RegisterTask(reg, "send", func(ctx context.Context, n int) (string, error) {
				job, ok := taskflow.JobFromContext(ctx)
				require.True(t, ok)
				got = seen{id: job.ID, attempt: job.Attempt, queue: job.Queue}
				_, err := job.Param("region", &got.region)
				require.NoError(t, err)
				taskflow.Logger(ctx).Info("sending", "n", n)
				taskflow.SetProgress(ctx, 50, "half way")
				switch {
				case n < 0:
					return "", errDown
				case n == 0:
					panic("nothing to send")
				}
				return fmt.Sprintf("%d sent", n), nil
			}, tt.taskOpts...)
			require.NoError(t, err)
			tt.opts.Registry = reg

			w := taskflowtest.Work(ctx, t, send, tt.args, tt.opts)
			require.Equal(t, tt.want, w.Result)
			if tt.wantErr == nil {
				require.NoError(t, w.Err)
			} else {
				require.ErrorIs(t, w.Err, tt.wantErr)
			}
			require.Equal(t, tt.wantState, w.State.Name())
			tt.wantSeen.id = w.ID
			require.Equal(t, tt.wantSeen, got)
			require.Equal(t, tt.wantSeen.attempt, w.Attempt)
			require.Equal(t, "send", w.Task)
			require.Len(t, w.Logs, 1)
			require.Equal(t, "sending", w.Logs[0].Message)
			require.Equal(t, tt.wantSeen.attempt, w.Logs[0].Attempt)
			require.JSONEq(t, fmt.Sprintf(`{"n":%d}`, tt.args), string(w.Logs[0].Attrs))
			require.True(t, w.Logs[0].At.Equal(w.At), "logged at %v by the fake clock at %v", w.Logs[0].At, w.At)
			require.NotNil(t, w.Progress)
			require.Equal(t, 50, w.Progress.Percent)
			require.True(t, w.Progress.At.Equal(w.At), "progress at %v by the fake clock at %v", w.Progress.At, w.At)
		})
	}
}

// TestWorkFailures: a job Work cannot run fails the test, saying why.
func TestWorkFailures(t *testing.T) {
	t.Parallel()
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "known", func(context.Context, int) (int, error) { return 0, nil })
	require.NoError(t, err)
	tests := []struct {
		name string
		opts taskflowtest.WorkOptions
		want string
	}{
		{name: "TaskNotInRegistry", opts: taskflowtest.WorkOptions{Options: taskflowtest.Options{Registry: taskflow.NewRegistry()}},
			want: `task "known" has no function in the harness's registry: set Options.Registry to the one it was registered in`},
		{name: "DelayedJob", opts: taskflowtest.WorkOptions{Options: taskflowtest.Options{Registry: reg},
			Job: []taskflow.JobOption{taskflow.Delay(time.Minute)}},
			want: `taskflowtest: the job of "known" is scheduled, not due: Work runs a job at once`},
		{name: "InvalidJobOption", opts: taskflowtest.WorkOptions{Options: taskflowtest.Options{Registry: reg},
			Job: []taskflow.JobOption{taskflow.Queue("No Such Queue")}},
			want: `taskflowtest: enqueue a job of "known": `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			failed, msg := capture(func(ft taskflowtest.TB) { taskflowtest.Work(ctx, ft, task, 1, tt.opts) })
			require.True(t, failed)
			require.Contains(t, msg, tt.want)
		})
	}
}
