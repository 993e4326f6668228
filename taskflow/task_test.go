package taskflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/internal/codectest"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

type addArgs struct{ A, B int }

func add(_ context.Context, a addArgs) (int, error) { return a.A + a.B, nil }

func retryNow(attempts int) filters.Retry {
	return filters.Retry{MaxRetries: attempts, Delay: func(int) time.Duration { return 0 }}
}

func TestRegisterTaskValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		task    string
		opts    []taskflow.TaskOption
		nilFn   bool
		nilReg  bool
		wantErr error
	}{
		{"Valid", "billing/charge-card.v2", nil, false, false, nil},
		{"Empty", "", nil, false, false, taskflow.ErrInvalidName},
		{"Space", "send email", nil, false, false, taskflow.ErrInvalidName},
		{"TooLong", string(make([]byte, 201)), nil, false, false, taskflow.ErrInvalidName},
		{"Duplicate", "dup", nil, false, false, taskflow.ErrDuplicateTask},
		{"BadQueue", "q", []taskflow.TaskOption{taskflow.Queue("Mail!")}, false, false, taskflow.ErrInvalidQueue},
		{"FilterWithNoHook", "f", []taskflow.TaskOption{taskflow.WithFilters(struct{ filters.Defaults }{})}, false, false, taskflow.ErrInvalidOption},
		{"NilFunc", "nil", nil, true, false, taskflow.ErrInvalidOption},
		{"NilRegistry", "no-registry", nil, false, true, taskflow.ErrInvalidOption},
		{"NegativeMaxRetries", "m", []taskflow.TaskOption{taskflow.MaxRetries(-1)}, false, false, taskflow.ErrInvalidOption},
		{"NegativeRetryPolicy", "r", []taskflow.TaskOption{taskflow.WithRetry(filters.Retry{MaxRetries: -1})}, false, false, taskflow.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := taskflow.NewRegistry()
			_, err := taskflow.RegisterTask(reg, "dup", add)
			require.NoError(t, err)
			fn := add
			if tt.nilFn {
				fn = nil
			}
			if tt.nilReg {
				reg = nil
			}
			task, err := taskflow.RegisterTask(reg, tt.task, fn, tt.opts...)
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, tt.task, task.Name())
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.Nil(t, task)
		})
	}
}

// Tasks declared the way programs declare them: package-level variables in
// the default registry.
var (
	_          = taskflow.NewTask("test-new-task-panics", add)
	defaultAdd = taskflow.NewTask("test-default-client-add", add)
)

func TestNewTaskPanicsOnDuplicate(t *testing.T) {
	t.Parallel()
	require.PanicsWithError(t, `taskflow: duplicate task name "test-new-task-panics"`, func() {
		taskflow.NewTask("test-new-task-panics", add)
	})
	require.Contains(t, taskflow.DefaultRegistry().Names(), "test-new-task-panics")
}

type unencodable struct{ C chan int }

func TestEnqueue(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		taskOpts  []taskflow.TaskOption
		opts      []taskflow.JobOption
		wantState states.Name
		wantQueue string
		wantPrio  int
		wantRunAt time.Time
		wantErr   error
	}{
		{"Defaults", nil, nil, states.NameEnqueued, "default", 0, time.Time{}, nil},
		{"TaskQueue", []taskflow.TaskOption{taskflow.Queue("mail"), taskflow.Priority(2)}, nil, states.NameEnqueued, "mail", 2, time.Time{}, nil},
		{"CallWinsOverTask", []taskflow.TaskOption{taskflow.Queue("mail")}, []taskflow.JobOption{taskflow.Queue("urgent"), taskflow.Priority(-1)}, states.NameEnqueued, "urgent", -1, time.Time{}, nil},
		{"Delay", nil, []taskflow.JobOption{taskflow.Delay(time.Minute)}, states.NameScheduled, "default", 0, now.Add(time.Minute), nil},
		{"RunAt", nil, []taskflow.JobOption{taskflow.RunAt(now.Add(time.Hour))}, states.NameScheduled, "default", 0, now.Add(time.Hour), nil},
		{"InvalidQueue", nil, []taskflow.JobOption{taskflow.Queue("Bad Queue")}, "", "", 0, time.Time{}, taskflow.ErrInvalidQueue},
		{"NegativeDelay", nil, []taskflow.JobOption{taskflow.Delay(-time.Minute)}, "", "", 0, time.Time{}, taskflow.ErrInvalidOption},
		{"ZeroRunAt", nil, []taskflow.JobOption{taskflow.RunAt(time.Time{})}, "", "", 0, time.Time{}, taskflow.ErrInvalidOption},
		{"NegativeTimeout", nil, []taskflow.JobOption{taskflow.Timeout(-time.Second)}, "", "", 0, time.Time{}, taskflow.ErrInvalidOption},
		{"EmptyUniqueKey", nil, []taskflow.JobOption{taskflow.Unique("")}, "", "", 0, time.Time{}, taskflow.ErrInvalidOption},
		{"PriorityOutOfRange", nil, []taskflow.JobOption{taskflow.Priority(taskflow.MaxPriority + 1)}, "", "", 0, time.Time{}, taskflow.ErrInvalidOption},
		{"EmptyParamName", nil, []taskflow.JobOption{taskflow.Param("", 1)}, "", "", 0, time.Time{}, taskflow.ErrInvalidOption},
		{"NegativeUniqueFor", nil, []taskflow.JobOption{taskflow.UniqueFor(-time.Hour)}, "", "", 0, time.Time{}, taskflow.ErrInvalidOption}, {"UnencodableParam", nil, []taskflow.JobOption{taskflow.Param("p", make(chan int))}, "", "", 0, time.Time{}, taskflow.ErrEncode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			c, err := taskflow.NewClient(e.store, taskflow.ClientOptions{Clock: func() time.Time { return now }})
			require.NoError(t, err)
			task, err := taskflow.RegisterTask(e.reg, "add", add, tt.taskOpts...)
			require.NoError(t, err)
			h, err := task.On(c).Enqueue(context.Background(), addArgs{1, 2}, append(tt.opts, taskflow.Param("trace", "t-1"))...)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Zero(t, e.store.Len(), "a failed enqueue stored a job")
				return
			}
			require.NoError(t, err)
			info, err := h.Job(context.Background())
			require.NoError(t, err)
			require.Equal(t, "add", info.Task)
			require.Equal(t, tt.wantState, info.State.Name())
			require.Equal(t, tt.wantQueue, info.Queue)
			require.Equal(t, tt.wantPrio, info.Priority)
			require.JSONEq(t, `{"A":1,"B":2}`, string(info.Args))
			require.JSONEq(t, `"t-1"`, string(info.Params["trace"]))
			require.Len(t, info.History, 1)
			if s, ok := info.State.(states.Scheduled); ok {
				require.True(t, tt.wantRunAt.Equal(s.EnqueueAt))
			}
		})
	}
}

func TestEnqueueUnencodableArgsStoresNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "bad-args", func(context.Context, unencodable) (int, error) { return 0, nil })
	require.NoError(t, err)
	_, err = task.On(e.client).EnqueueMany(context.Background(), []unencodable{{}, {C: make(chan int)}})
	require.ErrorIs(t, err, taskflow.ErrEncode)
	require.ErrorContains(t, err, `"bad-args"`)
	require.Zero(t, e.store.Len())
}

func TestEnqueueManyIsAtomic(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "add", add)
	require.NoError(t, err)
	args := make([]addArgs, 100)
	for i := range args {
		args[i] = addArgs{i, i}
	}
	hs, err := task.On(e.client).EnqueueMany(context.Background(), args, taskflow.Queue("bulk"))
	require.NoError(t, err)
	require.Len(t, hs, 100)
	require.Equal(t, 100, e.store.Len())
	counts, err := e.store.Count(context.Background(), "bulk")
	require.NoError(t, err)
	require.Equal(t, int64(100), counts[states.NameEnqueued])
}

func TestDefaultClient(t *testing.T) {
	// Not parallel: it sets the process-wide default client.
	task := defaultAdd
	store := memstore.New()
	taskflow.Configure(store)
	h, err := task.Enqueue(context.Background(), addArgs{2, 3})
	require.NoError(t, err)
	_, err = task.Result(context.Background(), h.ID)
	require.ErrorIs(t, err, taskflow.ErrNotSucceeded)
	c, err := taskflow.Default()
	require.NoError(t, err)
	require.Same(t, store, c.Store())

	next, err := task.ContinueWith(context.Background(), h.ID, addArgs{1, 1})
	require.NoError(t, err)
	batch, err := task.EnqueueBatch(context.Background(), []addArgs{{1, 2}, {3, 4}})
	require.NoError(t, err)
	for _, id := range []uuid.UUID{h.ID, next.ID, batch.ID, batch.Handles[1].ID} {
		_, err := task.Handle(id).Job(context.Background())
		if id == batch.ID {
			require.ErrorIs(t, err, taskflow.ErrNotFound, "a batch is no job")
			continue
		}
		require.NoError(t, err)
	}
	info, err := task.Handle(next.ID).Job(context.Background())
	require.NoError(t, err)
	require.Equal(t, states.NameAwaiting, info.State.Name())
}

// TestTaskHasEveryMethodOfBound: a task value offers, on the default
// client, every method its client-bound form has.
func TestTaskHasEveryMethodOfBound(t *testing.T) {
	t.Parallel()
	bound := reflect.TypeFor[taskflow.Bound[addArgs, int]]()
	task := reflect.TypeFor[*taskflow.Task[addArgs, int]]()
	for i := range bound.NumMethod() {
		m := bound.Method(i)
		t.Run(m.Name, func(t *testing.T) {
			tm, ok := task.MethodByName(m.Name)
			require.True(t, ok, "Task has no %s", m.Name)
			// Compare without the receiver.
			want, got := m.Type, tm.Type
			require.Equal(t, want.NumIn(), got.NumIn())
			for k := 1; k < want.NumIn(); k++ {
				require.Equal(t, want.In(k), got.In(k), "argument %d", k)
			}
			require.Equal(t, want.NumOut(), got.NumOut())
			for k := range want.NumOut() {
				require.Equal(t, want.Out(k), got.Out(k), "result %d", k)
			}
		})
	}
}

func TestResultOfUnknownJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "add", add)
	require.NoError(t, err)
	h, err := task.On(e.client).Enqueue(context.Background(), addArgs{})
	require.NoError(t, err)
	_, err = task.On(e.client).Handle(h.ID).Result(context.Background())
	require.ErrorIs(t, err, taskflow.ErrNotSucceeded)
	other := *h
	other.ID[0] ^= 0xff
	_, err = other.Result(context.Background())
	require.ErrorIs(t, err, taskflow.ErrNotFound)
}

func TestRunningJobParam(t *testing.T) {
	t.Parallel()
	r := &taskflow.RunningJob{Params: map[string]json.RawMessage{"n": json.RawMessage(`7`), "bad": json.RawMessage(`"x"`)}}
	var n int
	ok, err := r.Param("n", &n)
	require.True(t, ok)
	require.NoError(t, err)
	require.Equal(t, 7, n)
	ok, err = r.Param("missing", &n)
	require.False(t, ok)
	require.NoError(t, err)
	_, err = r.Param("bad", &n)
	require.True(t, errors.Is(err, taskflow.ErrDecode))
}

func TestValidateQueue(t *testing.T) {
	tests := []struct {
		name  string
		queue string
		ok    bool
	}{
		{"Default", "default", true},
		{"DigitsDashUnderscore", "mail-2_eu", true},
		{"OneByte", "a", true},
		{"HundredBytes", strings.Repeat("q", 100), true},
		{"Empty", "", false},
		{"HundredAndOneBytes", strings.Repeat("q", 101), false},
		{"Upper", "Mail", false},
		{"Space", "bad queue", false},
		{"Colon", "a:b", false},
		{"NonASCII", "файлы", false},
		{"BraceOfAHashTag", "{q}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := taskflow.ValidateQueue(tt.queue)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, taskflow.ErrInvalidQueue)
			require.Contains(t, err.Error(), strconv.Quote(tt.queue))
		})
	}
}

// TestCodecEndToEnd runs tasks with a non-JSON codec on memstore; pgstore
// and redisstore run the same (see package codectest).
func TestCodecEndToEnd(t *testing.T) {
	t.Parallel()
	codectest.Run(t, memstore.New())
}
