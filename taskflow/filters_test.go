package taskflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/taskflow"
)

// recorder is a filter that implements every hook and logs each call.
type recorder struct {
	filters.Defaults
	name string
	log  *eventLog
}

type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(s string) { l.mu.Lock(); l.events = append(l.events, s); l.mu.Unlock() }
func (l *eventLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (r recorder) OnCreating(_ context.Context, c *filters.CreatingContext) error {
	r.log.add(r.name + ".creating")
	return nil
}
func (r recorder) OnCreated(_ context.Context, c *filters.CreatedContext) {
	r.log.add(r.name + ".created")
}
func (r recorder) OnPerform(ctx context.Context, c *filters.PerformContext, next func(context.Context) error) error {
	r.log.add(r.name + ".perform>")
	err := next(ctx)
	r.log.add(r.name + ".perform<")
	return err
}
func (r recorder) OnStateElection(_ context.Context, c *filters.ElectStateContext) {
	r.log.add(r.name + ".elect:" + string(c.Candidate().Name()))
}
func (r recorder) OnStateApplied(_ context.Context, c *filters.ApplyStateContext) {
	r.log.add(r.name + ".applied:" + string(c.From) + ">" + string(c.State.Name()))
}

func TestFilterOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	log := &eventLog{}
	c, err := taskflow.NewClient(e.store, taskflow.ClientOptions{Filters: []filters.Filter{recorder{name: "cg", log: log}}})
	require.NoError(t, err)
	task, err := taskflow.RegisterTask(e.reg, "add", add, taskflow.WithFilters(recorder{name: "t1", log: log}, recorder{name: "t2", log: log}))
	require.NoError(t, err)
	h, err := task.On(c).Enqueue(waitCtx(t), addArgs{1, 1})
	require.NoError(t, err)
	require.Equal(t, []string{
		"cg.creating", "t1.creating", "t2.creating",
		"cg.elect:enqueued", "t1.elect:enqueued", "t2.elect:enqueued",
		"t2.created", "t1.created", "cg.created",
		"cg.applied:>enqueued", "t1.applied:>enqueued", "t2.applied:>enqueued",
	}, log.get())

	log.mu.Lock()
	log.events = nil
	log.mu.Unlock()
	e.startWorker(t, taskflow.WorkerOptions{Filters: []filters.Filter{recorder{name: "wg", log: log}}})
	_, err = h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(log.get()) == 12 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []string{
		"wg.perform>", "t1.perform>", "t2.perform>", "t2.perform<", "t1.perform<", "wg.perform<",
		"wg.elect:succeeded", "t1.elect:succeeded", "t2.elect:succeeded",
		"wg.applied:processing>succeeded", "t1.applied:processing>succeeded", "t2.applied:processing>succeeded",
	}, log.get())
}

// repeat is a server filter that runs the rest of the chain times times,
// one run after another, or fails the attempt without running it (times 0).
type repeat struct {
	filters.Defaults
	times int
	log   *eventLog
}

func (r repeat) OnPerform(ctx context.Context, c *filters.PerformContext, next func(context.Context) error) error {
	if r.times == 0 {
		return errors.New("refused by filter")
	}
	var err error
	for range r.times {
		err = next(ctx)
		r.log.add("repeat.ran")
	}
	return err
}

func TestServerFiltersMayCallNextAgainOrNotAtAll(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		outer     int // how many times the outer filter calls next
		wantLog   []string
		wantState states.Name
	}{
		{"Once", 1, []string{"in.perform>", "in.perform<", "repeat.ran"}, states.NameSucceeded},
		{"Twice", 2, []string{"in.perform>", "in.perform<", "repeat.ran", "in.perform>", "in.perform<", "repeat.ran"}, states.NameSucceeded},
		{"Never", 0, nil, states.NameFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			log := &eventLog{}
			task, err := taskflow.RegisterTask(e.reg, "add", add, taskflow.MaxRetries(0),
				taskflow.WithFilters(repeat{times: tt.outer, log: log}, recorder{name: "in", log: log}))
			require.NoError(t, err)
			h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{2, 3})
			require.NoError(t, err)
			e.startWorker(t, taskflow.WorkerOptions{})
			sum, err := h.Wait(waitCtx(t))
			j, jerr := e.client.Job(waitCtx(t), h.ID)
			require.NoError(t, jerr)
			require.Equal(t, tt.wantState, j.State.Name())
			if tt.wantState == states.NameSucceeded {
				require.NoError(t, err)
				require.Equal(t, 5, sum)
			} else {
				require.ErrorContains(t, err, "refused by filter")
			}
			got := log.get()
			var perform []string
			for _, ev := range got {
				if ev == "repeat.ran" || ev == "in.perform>" || ev == "in.perform<" {
					perform = append(perform, ev)
				}
			}
			require.Equal(t, tt.wantLog, perform)
		})
	}
}

// cancelIf cancels creation of jobs whose args say so.
type cancelIf struct{ filters.Defaults }

func (cancelIf) OnCreating(_ context.Context, c *filters.CreatingContext) error {
	var a addArgs
	_ = json.Unmarshal(c.Job.Args(), &a)
	switch a.A {
	case -1:
		c.Cancel("negative numbers are not allowed")
	case -2:
		return errors.New("filter broke")
	case 100:
		c.SetQueue("big")
	}
	return nil
}
func (cancelIf) OnCreated(context.Context, *filters.CreatedContext) {}

func TestClientFilterCanCancelOrChangeJob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      addArgs
		wantErr   error
		wantText  string
		wantQueue string
	}{
		{"Canceled", addArgs{A: -1}, taskflow.ErrCanceled, "negative numbers are not allowed", ""},
		{"FilterError", addArgs{A: -2}, nil, "filter broke", ""},
		{"MovedQueue", addArgs{A: 100}, nil, "", "big"},
		{"Untouched", addArgs{A: 1}, nil, "", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			task, err := taskflow.RegisterTask(e.reg, "add", add, taskflow.WithFilters(cancelIf{}))
			require.NoError(t, err)
			h, err := task.On(e.client).Enqueue(waitCtx(t), tt.args)
			if tt.wantText != "" {
				require.ErrorContains(t, err, tt.wantText)
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
				}
				require.Zero(t, e.store.Len())
				return
			}
			require.NoError(t, err)
			info, err := h.Job(waitCtx(t))
			require.NoError(t, err)
			require.Equal(t, tt.wantQueue, info.Queue)
			require.Equal(t, tt.wantQueue, info.State.(states.Enqueued).Queue)
		})
	}
}

// deleteOnSecondFailure is an elect-state filter that overrides the retry
// policy: it deletes the job instead of retrying a second time.
type deleteOnSecondFailure struct{ filters.Defaults }

func (deleteOnSecondFailure) OnStateElection(_ context.Context, c *filters.ElectStateContext) {
	if c.From == states.NameProcessing && c.Job.Attempt() >= 2 && c.Candidate().Name() != states.NameSucceeded {
		c.SetCandidate(states.Deleted{DeletedAt: c.Now, Reason: "gave up early"})
	}
}

func TestElectStateFilterReplacesCandidate(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "fails", func(context.Context, addArgs) (int, error) {
		return 0, errors.New("nope")
	}, taskflow.WithFilters(deleteOnSecondFailure{}), taskflow.WithRetry(filters.Retry{MaxRetries: filters.DefaultMaxRetries, Delay: retryNow(0).Delay}))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.ErrorIs(t, err, taskflow.ErrJobDeleted)
	require.ErrorContains(t, err, "gave up early")
	info, err := h.Job(waitCtx(t))
	require.NoError(t, err)
	// The second failure traversed Failed (the attempt) and Enqueued (the
	// retry the policy elected) before the filter chose Deleted.
	require.Equal(t, []states.Name{
		states.NameEnqueued, states.NameProcessing, states.NameFailed, states.NameEnqueued,
		states.NameProcessing, states.NameFailed, states.NameEnqueued, states.NameDeleted,
	}, historyOf(t, info))
}
