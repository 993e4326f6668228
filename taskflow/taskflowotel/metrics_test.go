package taskflowotel_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowotel"
)

// TestMetricsThroughAManualReader runs jobs through a client and a worker
// that share a hub, and reads the metrics as an exporter would.
func TestMetricsThroughAManualReader(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "resize", func(_ context.Context, n int) (int, error) {
		if n < 0 {
			return 0, errors.New("negative size")
		}
		return n, nil
	}, taskflow.MaxRetries(0))
	require.NoError(t, err)
	store := memstore.New()
	hub := taskflow.NewEvents()
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{Events: hub, Registry: reg})
	require.NoError(t, err)
	m, err := taskflowotel.NewMetrics(hub, taskflowotel.MetricsOptions{MeterProvider: mp, Client: client})
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, client.PauseQueue(ctx, "held"))
	_, err = task.On(client).Enqueue(ctx, 1, taskflow.Queue("held"))
	require.NoError(t, err)
	rig.Start(t, store, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg, Events: hub}})
	for _, n := range []int{1, 2, -1} {
		h, err := task.On(client).Enqueue(ctx, n)
		require.NoError(t, err)
		_, _ = h.Wait(ctx)
	}

	events := map[string]int64{}
	var durations, pickups uint64
	gauges := map[string]int64{}
	require.Eventually(t, func() bool {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(ctx, &rm))
		clear(events)
		durations, pickups = 0, 0
		for _, sm := range rm.ScopeMetrics {
			for _, md := range sm.Metrics {
				switch data := md.Data.(type) {
				case metricdata.Sum[int64]:
					require.True(t, data.IsMonotonic, md.Name)
					require.Equal(t, metricdata.CumulativeTemporality, data.Temporality, md.Name)
					for _, dp := range data.DataPoints {
						if ev, ok := dp.Attributes.Value(attribute.Key("taskflow.event")); ok {
							q, _ := dp.Attributes.Value("messaging.destination.name")
							events[q.AsString()+"/"+ev.AsString()] += dp.Value
						}
					}
				case metricdata.Histogram[float64]:
					for _, dp := range data.DataPoints {
						if md.Name == "taskflow.attempt.duration" {
							durations += dp.Count
						} else {
							pickups += dp.Count
						}
					}
				case metricdata.Gauge[int64]:
					for _, dp := range data.DataPoints {
						q, _ := dp.Attributes.Value("messaging.destination.name")
						gauges[md.Name+"/"+q.AsString()] = dp.Value
					}
				}
			}
		}
		return events["default/failed"] == 1
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, map[string]int64{
		"held/enqueued": 1, "default/enqueued": 3, "default/started": 3, "default/succeeded": 2, "default/failed": 1,
	}, events)
	require.EqualValues(t, 3, durations)
	require.EqualValues(t, 3, pickups)
	require.Equal(t, map[string]int64{"taskflow.queue.depth/held": 1, "taskflow.queue.held/held": 0, "taskflow.queue.paused/held": 1}, gauges,
		"a paused queue's jobs are not held by a limit")
}

// TestLimitGauges: each limit's slots in use and jobs held, summed over its
// partitions; the queue's held jobs, part of its depth.
func TestLimitGauges(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	store := memstore.New()
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	require.NoError(t, err)
	m, err := taskflowotel.NewMetrics(taskflow.NewEvents(), taskflowotel.MetricsOptions{MeterProvider: mp, Client: client})
	require.NoError(t, err)
	defer m.Close()
	type acct struct{ ID string }
	task, err := taskflow.RegisterTask(taskflow.NewRegistry(), "call", func(context.Context, acct) (int, error) { return 0, nil },
		taskflow.PartitionBy(func(a acct) string { return a.ID }))
	require.NoError(t, err)
	_, err = task.On(client).EnqueueMany(ctx, []acct{{"a"}, {"a"}, {"a"}, {"b"}, {"b"}})
	require.NoError(t, err)
	require.NoError(t, store.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "call", Concurrency: 1}}))
	jobs, err := store.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, jobs, 2)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	gauges := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			data, ok := md.Data.(metricdata.Gauge[int64])
			if ok && strings.HasPrefix(md.Name, "taskflow.queue.") {
				for _, dp := range data.DataPoints {
					q, _ := dp.Attributes.Value("messaging.destination.name")
					gauges[md.Name+"/"+q.AsString()] = dp.Value
				}
			}
			if ok && strings.HasPrefix(md.Name, "taskflow.limit.") {
				for _, dp := range data.DataPoints {
					scope, _ := dp.Attributes.Value("taskflow.limit.scope")
					name, _ := dp.Attributes.Value("taskflow.limit.name")
					gauges[md.Name+"/"+scope.AsString()+"/"+name.AsString()] = dp.Value
				}
			}
		}
	}
	require.Equal(t, map[string]int64{"taskflow.limit.slots_in_use/partition/call": 2, "taskflow.limit.jobs_held/partition/call": 3,
		"taskflow.queue.depth/default": 3, "taskflow.queue.held/default": 3, "taskflow.queue.paused/default": 0}, gauges)
}
