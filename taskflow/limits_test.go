package taskflow_test

import (
	"context"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

type acctArgs struct {
	Account string
	N       int
}

func byAccount(a acctArgs) string { return a.Account }

func acctNoop(context.Context, acctArgs) (int, error) { return 0, nil }

func TestLimitOptionsRefuseBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []taskflow.TaskOption
		want string
	}{
		{"ZeroLimit", []taskflow.TaskOption{taskflow.TaskLimit(taskflow.Limits{})}, "a Concurrency or a Rate"},
		{"NegativeConcurrency", []taskflow.TaskOption{taskflow.TaskLimit(taskflow.Limits{Concurrency: -1})}, "Concurrency -1"},
		{"NegativeRate", []taskflow.TaskOption{taskflow.TaskLimit(taskflow.Limits{Rate: -1, Per: time.Second})}, "Rate -1"},
		{"ZeroPeriod", []taskflow.TaskOption{taskflow.TaskLimit(taskflow.Limits{Rate: 5})}, "Per 0s"},
		{"NegativePeriod", []taskflow.TaskOption{taskflow.TaskLimit(taskflow.Limits{Rate: 5, Per: -time.Second})}, "Per -1s"},
		{"NegativeBurst", []taskflow.TaskOption{taskflow.TaskLimit(taskflow.Limits{Rate: 5, Per: time.Second, Burst: -1})}, "Burst -1"},
		{"BurstWithoutRate", []taskflow.TaskOption{taskflow.TaskLimit(taskflow.Limits{Concurrency: 1, Burst: 2})}, "need a Rate"},
		{"PartitionLimitWithoutPartitionBy", []taskflow.TaskOption{taskflow.PartitionLimit(taskflow.Limits{Concurrency: 2})}, "without PartitionBy"},
		{"PartitionByOfAnotherType", []taskflow.TaskOption{taskflow.PartitionBy(func(int) string { return "" })}, "want a func(taskflow_test.acctArgs) string"},
		{"NilPartitionBy", []taskflow.TaskOption{taskflow.PartitionBy[acctArgs](nil)}, "PartitionBy(nil)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := taskflow.RegisterTask(taskflow.NewRegistry(), "limited", acctNoop, tt.opts...)
			require.ErrorIs(t, err, taskflow.ErrInvalidOption)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestWorkerQueueOptionsRefuseBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts taskflow.WorkerOptions
		want string
	}{
		{"LimitOfUnservedQueue", taskflow.WorkerOptions{QueueLimits: map[string]taskflow.Limits{"other": {Concurrency: 1}}}, `"other", a queue the worker does not serve`},
		{"ZeroQueueLimit", taskflow.WorkerOptions{QueueLimits: map[string]taskflow.Limits{"default": {}}}, "QueueLimits[default]"},
		{"ZeroLocal", taskflow.WorkerOptions{LocalQueueConcurrency: map[string]int{"default": 0}}, "want more than 0"},
		{"ZeroWeight", taskflow.WorkerOptions{QueueWeights: map[string]int{"default": 0}}, "want more than 0"},
		{"SomeQueuesWeighed", taskflow.WorkerOptions{Queues: []string{"a", "b"}, QueueWeights: map[string]int{"a": 1}}, "every queue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := taskflow.NewWorker(memstore.New(), tt.opts)
			require.ErrorIs(t, err, taskflow.ErrInvalidOption)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestPartitionKeyIsComputedAtEnqueue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fn      func(acctArgs) string
		args    acctArgs
		want    string
		wantErr string
	}{
		{"Key", byAccount, acctArgs{Account: "acme"}, "acme", ""},
		{"NoKey", byAccount, acctArgs{}, "", ""},
		{"LongestKey", byAccount, acctArgs{Account: strings.Repeat("k", taskflow.MaxPartitionLen)}, strings.Repeat("k", taskflow.MaxPartitionLen), ""},
		{"KeyTooLong", byAccount, acctArgs{Account: strings.Repeat("k", taskflow.MaxPartitionLen+1)}, "", "a key of 201 bytes, want at most 200"},
		{"Panics", func(a acctArgs) string { return []string{}[a.N] }, acctArgs{N: 3}, "", "the partition function panicked: runtime error: index out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			task, err := taskflow.RegisterTask(e.reg, "acct", acctNoop, taskflow.PartitionBy(tt.fn))
			require.NoError(t, err)
			h, err := task.On(e.client).Enqueue(waitCtx(t), tt.args)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, taskflow.ErrPartitionKey)
				require.ErrorContains(t, err, tt.wantErr)
				require.Zero(t, e.store.Len(), "a job with a bad key was stored")
				return
			}
			require.NoError(t, err)
			j, err := e.store.Get(waitCtx(t), h.ID)
			require.NoError(t, err)
			require.Equal(t, tt.want, j.Partition)
		})
	}
}

// bare hides every capability of a store but the required one.
type bare struct{ storage.Store }

func TestLimitOnStoreWithoutFlowControlFailsAtStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  taskflow.TaskOption
		wopt taskflow.WorkerOptions
		want string
	}{
		{"TaskLimit", taskflow.TaskLimit(taskflow.Limits{Concurrency: 1}), taskflow.WorkerOptions{}, "limit task:acct declared"},
		{"PartitionLimit", taskflow.PartitionLimit(taskflow.Limits{Concurrency: 1}), taskflow.WorkerOptions{}, "limit partition:acct declared"},
		{"QueueLimit", nil, taskflow.WorkerOptions{QueueLimits: map[string]taskflow.Limits{"default": {Rate: 1, Per: time.Second}}}, "limit queue:default declared"},
		{"NoLimit", nil, taskflow.WorkerOptions{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := taskflow.NewRegistry()
			_, err := taskflow.RegisterTask(reg, "acct", acctNoop, taskflow.PartitionBy(byAccount), tt.opt)
			require.NoError(t, err)
			tt.wopt.Registry, tt.wopt.Logger = reg, quiet
			w, err := taskflow.NewWorker(bare{memstore.New()}, tt.wopt)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err = w.Run(ctx)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, taskflow.ErrNotSupported)
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, err, "storage.FlowControl")
		})
	}
}

// TestTheWorkerStartedLastDeclaresTheLimit: two releases run at once and
// declare one task's limit differently; the worker that started last wins,
// and a release that declares none removes it.
func TestTheWorkerStartedLastDeclaresTheLimit(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	start := func(opts ...taskflow.TaskOption) {
		reg := taskflow.NewRegistry()
		_, err := taskflow.RegisterTask(reg, "acct", acctNoop, append(opts, taskflow.PartitionBy(byAccount))...)
		require.NoError(t, err)
		rig.Start(t, store, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg}})
	}
	// A worker declares its limits at start, after it registers.
	limitsBecome := func(want []storage.Limit) {
		require.Eventually(t, func() bool {
			got, err := store.Limits(context.Background())
			return err == nil && reflect.DeepEqual(want, got)
		}, 5*time.Second, time.Millisecond, "want %v", want)
	}
	start(taskflow.PartitionLimit(taskflow.Limits{Concurrency: 2}))
	limitsBecome([]storage.Limit{{Scope: storage.ScopePartition, Name: "acct", Concurrency: 2}})
	start(taskflow.PartitionLimit(taskflow.Limits{Concurrency: 5}), taskflow.TaskLimit(taskflow.Limits{Rate: 10, Per: time.Second}))
	limitsBecome([]storage.Limit{
		{Scope: storage.ScopePartition, Name: "acct", Concurrency: 5},
		{Scope: storage.ScopeTask, Name: "acct", Rate: 10, Period: time.Second},
	})
	start()
	limitsBecome(nil) // a release declaring no limit removes the stored one
}

// TestLimitsHoldAcrossWorkers runs one task with a partition limit and a
// task rate limit on three workers and checks, from what the task saw,
// that no account ran more than its limit at once.
func TestLimitsHoldAcrossWorkers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const perAccount, accounts, jobs = 2, 5, 60
	var (
		mu      sync.Mutex
		running = map[string]int{}
		peak    = map[string]int{}
	)
	task, err := taskflow.RegisterTask(e.reg, "acct", func(ctx context.Context, a acctArgs) (int, error) {
		mu.Lock()
		running[a.Account]++
		peak[a.Account] = max(peak[a.Account], running[a.Account])
		mu.Unlock()
		time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		mu.Lock()
		running[a.Account]--
		mu.Unlock()
		return a.N, nil
	}, taskflow.PartitionBy(byAccount), taskflow.PartitionLimit(taskflow.Limits{Concurrency: perAccount}))
	require.NoError(t, err)
	for range 3 {
		e.startWorker(t, taskflow.WorkerOptions{Concurrency: 10})
	}
	var hs []*taskflow.Handle[int]
	for i := range jobs {
		h, err := task.On(e.client).Enqueue(waitCtx(t), acctArgs{Account: string(rune('a' + i%accounts)), N: i})
		require.NoError(t, err)
		hs = append(hs, h)
	}
	for _, h := range hs {
		_, err := h.Wait(waitCtx(t))
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, peak, accounts)
	for acct, n := range peak {
		require.LessOrEqual(t, n, perAccount, "account %s", acct)
	}
}

func TestLocalQueueConcurrencyBoundsTheWorker(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var (
		mu            sync.Mutex
		running, peak int
	)
	task, err := taskflow.RegisterTask(e.reg, "slow", func(ctx context.Context, a acctArgs) (int, error) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return 0, nil
	}, taskflow.Queue("narrow"))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Queues: []string{"narrow"}, Concurrency: 20, LocalQueueConcurrency: map[string]int{"narrow": 3}})
	var hs []*taskflow.Handle[int]
	for range 40 {
		h, err := task.On(e.client).Enqueue(waitCtx(t), acctArgs{})
		require.NoError(t, err)
		hs = append(hs, h)
	}
	for _, h := range hs {
		_, err := h.Wait(waitCtx(t))
		require.NoError(t, err)
	}
	require.Equal(t, 3, peak, "the local limit was not used fully, or was exceeded")
}

func TestWeighedOrderFollowsWeightsAndStarvesNone(t *testing.T) {
	t.Parallel()
	queues := []string{"critical", "default", "low"}
	weights := map[string]int{"critical": 6, "default": 3, "low": 1}
	r := rand.New(rand.NewPCG(1, 2))
	first := map[string]int{}
	const draws = 10000
	for range draws {
		order := taskflow.WeighedOrder(queues, weights, r.Float64)
		require.ElementsMatch(t, queues, order)
		first[order[0]]++
	}
	for q, w := range weights {
		share := float64(first[q]) / draws
		require.InDelta(t, float64(w)/10, share, 0.03, "queue %s came first %.3f of the time", q, share)
	}
}

func TestEventWhenALimitHoldsJobsBack(t *testing.T) {
	taskflow.SetLimitWatchEvery(20 * time.Millisecond)
	e := setup(t)
	release := make(chan struct{})
	task, err := taskflow.RegisterTask(e.reg, "acct", func(ctx context.Context, a acctArgs) (int, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return 0, nil
	}, taskflow.PartitionBy(byAccount), taskflow.PartitionLimit(taskflow.Limits{Concurrency: 1}))
	require.NoError(t, err)
	hub := taskflow.NewEvents()
	sub := hub.Subscribe(100)
	defer sub.Close()
	e.startWorker(t, taskflow.WorkerOptions{Events: hub})
	_, err = task.On(e.client).EnqueueMany(waitCtx(t), []acctArgs{{Account: "a"}, {Account: "a"}, {Account: "a"}, {Account: "b"}})
	require.NoError(t, err)
	defer close(release)
	for {
		select {
		case ev := <-sub.C:
			if ev.Kind != taskflow.EventLimitHeld {
				continue
			}
			require.Equal(t, "acct", ev.Task)
			require.Equal(t, "limit_held", ev.Kind.String())
			require.Equal(t, taskflow.LimitInfo{Scope: "partition", Name: "acct", Partition: "a", Limits: taskflow.Limits{Concurrency: 1},
				Running: 1, Enqueued: 2, Held: 2}, *ev.Limit, "partition b runs its one job and holds none")
			return
		case <-waitCtx(t).Done():
			t.Fatal("no EventLimitHeld")
		}
	}
}

// stalledLimits is a store whose SetLimits waits until its context ends.
type stalledLimits struct{ *memstore.Store }

func (s stalledLimits) SetLimits(ctx context.Context, _ []storage.Limit) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestWorkerStoppedWhileDeclaringLimitsReturnsNil: a worker stopped while
// it declares its limits, before it ran anything, stops cleanly, as one
// stopped before its first heartbeat does.
func TestWorkerStoppedWhileDeclaringLimitsReturnsNil(t *testing.T) {
	t.Parallel()
	reg := taskflow.NewRegistry()
	_, err := taskflow.RegisterTask(reg, "acct", acctNoop, taskflow.PartitionBy(byAccount), taskflow.PartitionLimit(taskflow.Limits{Concurrency: 1}))
	require.NoError(t, err)
	w, err := taskflow.NewWorker(stalledLimits{memstore.New()}, taskflow.WorkerOptions{Registry: reg, Logger: quiet})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.NoError(t, w.Run(ctx))
}
