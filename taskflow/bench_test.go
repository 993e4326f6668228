package taskflow_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/internal/benchrig"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

type benchArgs = benchrig.Args

var (
	noop       = benchrig.Noop
	benchBatch = benchrig.Batch
	cpuTime    = benchrig.CPUTime
)

// BenchmarkEnqueueMany measures enqueueing in batches of 1,000 jobs.
func BenchmarkEnqueueMany(b *testing.B) {
	reg := taskflow.NewRegistry()
	task, _ := taskflow.RegisterTask(reg, "noop", noop)
	c, _ := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
	bound := task.On(c)
	const batch = 1000
	args := benchBatch(batch)
	ctx := context.Background()
	b.ReportAllocs()
	cpu := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		if _, err := bound.EnqueueMany(ctx, args[:n]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/job")
}

// BenchmarkEnqueue measures enqueueing one job per call.
func BenchmarkEnqueue(b *testing.B) {
	reg := taskflow.NewRegistry()
	task, _ := taskflow.RegisterTask(reg, "noop", noop)
	c, _ := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
	bound := task.On(c)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := bound.Enqueue(ctx, benchArgs{UserID: i, Kind: "welcome"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkEndToEnd enqueues b.N no-op jobs, then measures a worker
// running them all: fetch, decode, run, encode, store Succeeded with
// history.
func BenchmarkEndToEnd(b *testing.B) { benchrig.EndToEnd(b, nil) }

// BenchmarkEndToEndWithEvents is BenchmarkEndToEnd with an event hub on
// the worker and a subscriber that reads every event.
func BenchmarkEndToEndWithEvents(b *testing.B) {
	hub := taskflow.NewEvents()
	sub := hub.Subscribe(4096)
	go func() {
		for range sub.C {
		}
	}()
	defer sub.Close()
	benchrig.EndToEnd(b, hub)
}

// BenchmarkPendingJobMemory reports the heap a memstore holds per small
// pending job, history included.
func BenchmarkPendingJobMemory(b *testing.B) {
	const n = 100_000
	reg := taskflow.NewRegistry()
	task, _ := taskflow.RegisterTask(reg, "noop", noop)
	args := benchBatch(1000)
	ctx := context.Background()
	var perJob float64
	for range b.N {
		store := memstore.New()
		c, _ := taskflow.NewClient(store, taskflow.ClientOptions{})
		before := heapInUse()
		for i := 0; i < n; i += len(args) {
			if _, err := task.On(c).EnqueueMany(ctx, args); err != nil {
				b.Fatal(err)
			}
		}
		perJob = float64(heapInUse()-before) / n
		runtime.KeepAlive(store)
	}
	b.ReportMetric(perJob, "B/pending-job")
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkLongRunHeap runs jobs continuously (enqueue, work, expire,
// prune) in rounds of 20,000 and reports the heap after the first quarter
// of the rounds and at the end: with finished jobs expiring, the second
// should not exceed the first by more than noise. Run it with
// -benchtime=40x or more.
func BenchmarkLongRunHeap(b *testing.B) {
	const round = 20_000
	reg := taskflow.NewRegistry()
	task, _ := taskflow.RegisterTask(reg, "noop", noop)
	store := memstore.New()
	c, _ := taskflow.NewClient(store, taskflow.ClientOptions{})
	counter := benchrig.NewCounter(-1)
	w, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{
		Registry: reg, Logger: quiet, Filters: []filters.Filter{counter},
		Retention: time.Millisecond, PruneInterval: 10 * time.Millisecond,
	})
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- w.Run(ctx) }()
	args := benchBatch(1000)
	var early uint64
	b.ResetTimer()
	for r := range b.N {
		for i := 0; i < round; i += len(args) {
			if _, err := task.On(c).EnqueueMany(ctx, args); err != nil {
				b.Fatal(err)
			}
		}
		for counter.Done.Load() < int64((r+1)*round) {
			time.Sleep(time.Millisecond)
		}
		if r == b.N/4 {
			time.Sleep(50 * time.Millisecond) // let the pruner catch up
			early = heapInUse()
		}
	}
	b.StopTimer()
	time.Sleep(50 * time.Millisecond)
	late := heapInUse()
	stop()
	<-stopped
	b.ReportMetric(float64(early)/(1<<20), "MiB-heap-early")
	b.ReportMetric(float64(late)/(1<<20), "MiB-heap-late")
	b.ReportMetric(float64(store.Len()), "jobs-held-at-end")
}
