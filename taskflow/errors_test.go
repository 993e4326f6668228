package taskflow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Errors a task may fail with, registered so that the producer's error
// matches them.
var (
	errQuota    = taskflow.RegisterError("test.quota", errors.New("quota exceeded"))
	errUnlisted = errors.New("never registered")
)

// declinedError is a registered error type: the producer gets it back.
type declinedError struct{ Why string }

func (e *declinedError) Error() string { return "card declined: " + e.Why }

// codedError carries its own machine-readable code.
type codedError struct{}

func (codedError) Error() string     { return "rate limited" }
func (codedError) ErrorCode() string { return "test.rate_limited" }

func init() { taskflow.RegisterErrorType[*declinedError]("test.declined") }

// TestFailuresReachTheProducerAsData fails jobs in the ways a task fails,
// and checks what the Failed state records and what the producer's
// *JobError matches.
func TestFailuresReachTheProducerAsData(t *testing.T) {
	t.Parallel()
	var table []int
	tests := []struct {
		name     string
		fn       func(ctx context.Context, _ int) (int, error)
		opts     []taskflow.TaskOption
		wantType string
		wantCode string
		wantIs   []error // the producer's error matches these
		wantNot  []error // and not these
		wantMsg  string
		check    func(t *testing.T, err error, f states.Failed)
	}{
		{
			name:     "WrappedSentinel",
			fn:       func(context.Context, int) (int, error) { return 0, fmt.Errorf("charge: %w", errQuota) },
			wantCode: "test.quota", wantIs: []error{errQuota, taskflow.ErrJobFailed},
			wantNot: []error{errUnlisted, taskflow.ErrPanic, filters.ErrPermanent, taskflow.ErrTimeout},
			wantMsg: "charge: quota exceeded",
			check: func(t *testing.T, _ error, f states.Failed) {
				require.Equal(t, []states.ErrorLink{{Type: "*fmt.wrapError", Message: "charge: quota exceeded"}, {Type: "*errors.errorString", Message: "quota exceeded"}}, f.ErrorChain)
			},
		},
		{
			name: "RegisteredType",
			fn: func(context.Context, int) (int, error) {
				return 0, fmt.Errorf("charge: %w", &declinedError{Why: "insufficient funds"})
			},
			wantType: "*taskflow_test.declinedError", wantCode: "test.declined",
			wantNot: []error{errQuota, taskflow.ErrPanic},
			check: func(t *testing.T, err error, _ states.Failed) {
				var d *declinedError
				require.ErrorAs(t, err, &d)
				require.Equal(t, "insufficient funds", d.Why)
			},
		},
		{
			name:     "CodedError",
			fn:       func(context.Context, int) (int, error) { return 0, fmt.Errorf("fetch: %w", codedError{}) },
			wantType: "taskflow_test.codedError", wantCode: "test.rate_limited",
			wantNot: []error{errQuota},
		},
		{
			name:     "Panic",
			fn:       func(context.Context, int) (int, error) { panic("kaboom") },
			wantType: "string", wantCode: "taskflow.panic", wantIs: []error{taskflow.ErrPanic},
			wantNot: []error{filters.ErrPermanent, taskflow.ErrTimeout},
			wantMsg: "kaboom",
			check: func(t *testing.T, _ error, f states.Failed) {
				require.Contains(t, f.ErrorDetails, "errors_test.go", "the stack is kept")
			},
		},
		{
			name:     "RuntimePanic",
			fn:       func(_ context.Context, i int) (int, error) { return table[i], nil },
			wantType: "runtime.boundsError", wantCode: "taskflow.panic", wantIs: []error{taskflow.ErrPanic},
			wantMsg: "index out of range",
		},
		{
			name:     "PanicWithARegisteredError",
			fn:       func(context.Context, int) (int, error) { panic(fmt.Errorf("db: %w", errQuota)) },
			wantType: "*fmt.wrapError", wantCode: "taskflow.panic", wantIs: []error{taskflow.ErrPanic, errQuota},
		},
		{
			name:     "Permanent",
			fn:       func(context.Context, int) (int, error) { return 0, filters.Permanent(errors.New("no such account")) },
			wantType: "", wantIs: []error{filters.ErrPermanent},
			wantNot: []error{taskflow.ErrPanic, filters.ErrBadInput},
		},
		{
			name: "Timeout",
			fn: func(ctx context.Context, _ int) (int, error) {
				<-ctx.Done()
				return 0, fmt.Errorf("query: %w", ctx.Err())
			},
			opts:     []taskflow.TaskOption{taskflow.Timeout(30 * time.Millisecond)},
			wantType: "context.deadlineExceededError", wantCode: "taskflow.timeout", wantIs: []error{taskflow.ErrTimeout, context.DeadlineExceeded},
			wantNot: []error{taskflow.ErrPanic, context.Canceled},
			wantMsg: "Timeout of 30ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			task, err := taskflow.RegisterTask(e.reg, "fails", tt.fn, append(tt.opts, taskflow.MaxRetries(0))...)
			require.NoError(t, err)
			e.startWorker(t, taskflow.WorkerOptions{})
			h, err := task.On(e.client).Enqueue(waitCtx(t), 5)
			require.NoError(t, err)
			_, err = h.Wait(waitCtx(t))
			var je *taskflow.JobError
			require.ErrorAs(t, err, &je)
			f := je.State.(states.Failed)
			require.Equal(t, tt.wantType, f.ErrorType)
			require.Equal(t, tt.wantCode, f.ErrorCode)
			require.Equal(t, tt.wantCode, je.Code())
			require.Contains(t, f.ErrorMessage, tt.wantMsg)
			require.NotEmpty(t, f.ErrorChain)
			require.Equal(t, f.ErrorMessage, f.ErrorChain[0].Message)
			for _, want := range tt.wantIs {
				require.ErrorIs(t, err, want)
			}
			for _, not := range tt.wantNot {
				require.NotErrorIs(t, err, not)
			}
			if tt.check != nil {
				tt.check(t, err, f)
			}
		})
	}
}

func TestRegisterErrorRefusesATakenCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		register func()
	}{
		{"SentinelCodeTaken", func() { taskflow.RegisterError("test.quota", errors.New("other")) }},
		{"TypeCodeTaken", func() { taskflow.RegisterErrorType[*declinedError]("taskflow.panic") }},
		{"EmptyCode", func() { taskflow.RegisterError("", errors.New("other")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Panics(t, tt.register)
		})
	}
}

// TestOneErrLeaseLost: the error a store returns for an outcome under a
// lost lease matches taskflow.ErrLeaseLost, the cause an attempt sees.
func TestOneErrLeaseLost(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "t", add)
	require.NoError(t, err)
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	jobs, err := e.store.Fetch(waitCtx(t), &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "w", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	data, err := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
	require.NoError(t, err)
	errs, err := e.store.Transition(waitCtx(t), &storage.TransitionParams{Transitions: []storage.Transition{{
		ID: h.ID, From: []states.Name{states.NameProcessing}, Token: jobs[0].LeaseToken + 1, To: states.NameSucceeded, Data: data,
	}}})
	require.NoError(t, err)
	require.ErrorIs(t, errs[0], taskflow.ErrLeaseLost, "a stale token")
}

// TestErrorsNameTheJobOnce: an error about a job names its ID once, however
// many layers wrap it.
func TestErrorsNameTheJobOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "t", add)
	require.NoError(t, err)
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	unknown := newID(t)
	tests := []struct {
		name string
		id   uuid.UUID
		call func(ctx context.Context) error
		want error
	}{
		{"JobOfUnknown", unknown, func(ctx context.Context) error { _, err := e.client.Job(ctx, unknown); return err }, taskflow.ErrNotFound},
		{"DeleteUnknown", unknown, func(ctx context.Context) error { return e.client.Delete(ctx, unknown) }, taskflow.ErrNotFound},
		{"ResultOfUnknown", unknown, func(ctx context.Context) error {
			_, err := task.On(e.client).Handle(unknown).Result(ctx)
			return err
		}, taskflow.ErrNotFound},
		{"WaitForUnknown", unknown, func(ctx context.Context) error {
			_, err := task.On(e.client).Handle(unknown).Wait(ctx)
			return err
		}, taskflow.ErrNotFound},
		{"ChangeStateFromTheWrongState", h.ID, func(ctx context.Context) error {
			return e.client.ChangeState(ctx, h.ID, states.Deleted{}, states.NameProcessing)
		}, taskflow.ErrStateConflict},
		{"ResultNotYet", h.ID, func(ctx context.Context) error {
			_, err := h.Result(ctx)
			return err
		}, taskflow.ErrNotSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call(waitCtx(t))
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, 1, strings.Count(err.Error(), tt.id.String()), "%v", err)
		})
	}
}

// multiError is an error type == cannot compare; one is registered.
type multiError []error

var _ = taskflow.RegisterError("test.multi", multiError{errors.New("registered")})

func (m multiError) Error() string { return fmt.Sprint([]error(m)) }

// TestUncomparableErrors: errors of a type == cannot compare are described
// and matched without a panic.
func TestUncomparableErrors(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "fails", func(context.Context, int) (int, error) {
		return 0, multiError{errors.New("a"), errQuota}
	}, taskflow.MaxRetries(0))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.ErrorIs(t, err, taskflow.ErrJobFailed)
	require.NotErrorIs(t, err, multiError{errQuota})
	var je *taskflow.JobError
	require.ErrorAs(t, err, &je)
	require.Equal(t, "taskflow_test.multiError", je.State.(states.Failed).ErrorType)
}

// TestDeletedJobKeepsItsFailure: a job the retry policy deletes once it
// failed still matches, from the producer, what its error matched.
func TestDeletedJobKeepsItsFailure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "fails", func(context.Context, int) (int, error) {
		return 0, filters.Permanent(&declinedError{Why: "stolen card"})
	})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Retry: &filters.Retry{MaxRetries: 3, WhenExhausted: filters.DeleteWhenExhausted}})
	h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.ErrorIs(t, err, taskflow.ErrJobDeleted)
	require.ErrorIs(t, err, filters.ErrPermanent)
	require.NotErrorIs(t, err, taskflow.ErrJobFailed)
	var d *declinedError
	require.ErrorAs(t, err, &d)
	require.Equal(t, "stolen card", d.Why)
	var je *taskflow.JobError
	require.ErrorAs(t, err, &je)
	require.Equal(t, "test.declined", je.Code())
}
