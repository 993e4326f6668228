package taskflowprom_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowprom"
)

// TestCollectorOnARealRegistry runs jobs through a client and a worker
// that share a hub, and scrapes a registry.
func TestCollectorOnARealRegistry(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg := taskflow.NewRegistry()
	add, err := taskflow.RegisterTask(reg, "add", func(_ context.Context, n int) (int, error) { return n + 1, nil })
	require.NoError(t, err)
	store := memstore.New()
	hub := taskflow.NewEvents()
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{Events: hub, Registry: reg})
	require.NoError(t, err)
	collector := taskflowprom.New(hub, taskflowprom.Options{Client: client, CacheFor: time.Millisecond})
	defer collector.Close()
	registry := prometheus.NewRegistry()
	require.NoError(t, registry.Register(collector))

	require.NoError(t, client.PauseQueue(ctx, "held"))
	_, err = add.On(client).Enqueue(ctx, 9, taskflow.Queue("held"))
	require.NoError(t, err)
	rig.Start(t, store, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg, Events: hub, Queues: []string{"default", "held"}}})
	hs, err := add.On(client).EnqueueMany(ctx, []int{1, 2})
	require.NoError(t, err)
	for _, h := range hs {
		_, err := h.Wait(ctx)
		require.NoError(t, err)
	}

	want := `
# HELP taskflow_job_events_total Jobs that entered a state or started an attempt, by task, queue and event (enqueued, scheduled, awaiting, started, succeeded, retried, failed, deleted).
# TYPE taskflow_job_events_total counter
taskflow_job_events_total{event="enqueued",queue="default",task="add"} 2
taskflow_job_events_total{event="enqueued",queue="held",task="add"} 1
taskflow_job_events_total{event="started",queue="default",task="add"} 2
taskflow_job_events_total{event="succeeded",queue="default",task="add"} 2
# HELP taskflow_queue_depth Jobs waiting in the queue.
# TYPE taskflow_queue_depth gauge
taskflow_queue_depth{queue="held"} 1
# HELP taskflow_queue_paused 1 when the queue is paused.
# TYPE taskflow_queue_paused gauge
taskflow_queue_paused{queue="held"} 1
# HELP taskflow_workers_alive Workers registered with the store (heartbeats within their timeout).
# TYPE taskflow_workers_alive gauge
taskflow_workers_alive 1
`
	require.Eventually(t, func() bool {
		return testutil.GatherAndCompare(registry, strings.NewReader(want),
			"taskflow_job_events_total", "taskflow_queue_depth", "taskflow_queue_paused", "taskflow_workers_alive") == nil
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, testutil.GatherAndCompare(registry, strings.NewReader(want),
		"taskflow_job_events_total", "taskflow_queue_depth", "taskflow_queue_paused", "taskflow_workers_alive"))

	families, err := registry.Gather()
	require.NoError(t, err)
	samples := map[string]uint64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				samples[f.GetName()] += h.GetSampleCount()
			}
		}
	}
	require.EqualValues(t, 2, samples["taskflow_attempt_duration_seconds"])
	require.EqualValues(t, 2, samples["taskflow_pickup_latency_seconds"])
	require.Zero(t, testutil.ToFloat64(collectorDropped(t, registry)))
}

// collectorDropped reads taskflow_events_dropped_total from registry.
func collectorDropped(t *testing.T, registry *prometheus.Registry) prometheus.Collector {
	t.Helper()
	families, err := registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "taskflow_events_dropped_total" {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dropped"}, func() float64 {
				return f.GetMetric()[0].GetCounter().GetValue()
			})
		}
	}
	t.Fatal("no taskflow_events_dropped_total")
	return nil
}

// TestLeasesLostByCause: an attempt whose job is requeued, and one whose
// job is deleted, while they run count as lost leases with their causes.
func TestLeasesLostByCause(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg := taskflow.NewRegistry()
	started := make(chan struct{}, 4)
	hold, err := taskflow.RegisterTask(reg, "hold", func(ctx context.Context, _ int) (int, error) {
		if rj, _ := taskflow.JobFromContext(ctx); rj.Attempt > 1 {
			return 0, nil
		}
		started <- struct{}{}
		<-ctx.Done()
		return 0, context.Cause(ctx)
	})
	require.NoError(t, err)
	store := memstore.New()
	hub := taskflow.NewEvents()
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{Registry: reg})
	require.NoError(t, err)
	collector := taskflowprom.New(hub, taskflowprom.Options{})
	defer collector.Close()
	registry := prometheus.NewRegistry()
	require.NoError(t, registry.Register(collector))
	rig.Start(t, store, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg, Events: hub, HeartbeatInterval: 50 * time.Millisecond}})

	for _, take := range []func(id uuid.UUID) error{
		func(id uuid.UUID) error { return client.Requeue(ctx, id) },
		func(id uuid.UUID) error { return client.Delete(ctx, id) },
	} {
		h, err := hold.On(client).Enqueue(ctx, 1)
		require.NoError(t, err)
		<-started
		require.NoError(t, take(h.ID))
	}
	want := `
# HELP taskflow_leases_lost_total Running attempts whose lease could not be renewed, by task, queue and cause (requeued, rescheduled, deleted, state_changed, reclaimed).
# TYPE taskflow_leases_lost_total counter
taskflow_leases_lost_total{cause="deleted",queue="default",task="hold"} 1
taskflow_leases_lost_total{cause="requeued",queue="default",task="hold"} 1
`
	require.Eventually(t, func() bool {
		return testutil.GatherAndCompare(registry, strings.NewReader(want), "taskflow_leases_lost_total") == nil
	}, 5*time.Second, 10*time.Millisecond)
}

// TestLimitGauges: a partition limit's slots in use and the jobs it holds
// back are summed over its partitions, one series per limit; the queue's
// held jobs are part of its depth.
func TestLimitGauges(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store := memstore.New()
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	require.NoError(t, err)
	collector := taskflowprom.New(taskflow.NewEvents(), taskflowprom.Options{Client: client, CacheFor: time.Millisecond})
	defer collector.Close()
	registry := prometheus.NewRegistry()
	require.NoError(t, registry.Register(collector))

	type acct struct{ ID string }
	task, err := taskflow.RegisterTask(taskflow.NewRegistry(), "call", func(context.Context, acct) (int, error) { return 0, nil },
		taskflow.PartitionBy(func(a acct) string { return a.ID }))
	require.NoError(t, err)
	_, err = task.On(client).EnqueueMany(ctx, []acct{{"a"}, {"a"}, {"a"}, {"b"}, {"b"}})
	require.NoError(t, err)
	require.NoError(t, store.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "call", Concurrency: 1}}))
	jobs, err := store.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, jobs, 2, "one per partition")

	want := `
# HELP taskflow_limit_jobs_held Enqueued jobs waiting on a flow-control limit (full, or its rate spent), summed over its partitions, by scope and name.
# TYPE taskflow_limit_jobs_held gauge
taskflow_limit_jobs_held{name="call",scope="partition"} 3
# HELP taskflow_limit_slots_in_use Jobs running under a flow-control limit, summed over its partitions, by scope (queue, task, partition) and name.
# TYPE taskflow_limit_slots_in_use gauge
taskflow_limit_slots_in_use{name="call",scope="partition"} 2
# HELP taskflow_queue_depth Jobs waiting in the queue.
# TYPE taskflow_queue_depth gauge
taskflow_queue_depth{queue="default"} 3
# HELP taskflow_queue_held Jobs waiting in the queue that a full flow-control limit holds back, each counted once (part of queue_depth; the rest wait only for a worker).
# TYPE taskflow_queue_held gauge
taskflow_queue_held{queue="default"} 3
`
	require.NoError(t, testutil.GatherAndCompare(registry, strings.NewReader(want),
		"taskflow_limit_jobs_held", "taskflow_limit_slots_in_use", "taskflow_queue_depth", "taskflow_queue_held"))
}
