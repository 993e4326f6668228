// Package benchrig runs no-op jobs end to end for the benchmarks of
// taskflow and of its integrations, which live in modules of their own and
// so cannot share a _test.go file.
//
// A test rig: only taskflow's own tests import it.
package benchrig

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Args are the arguments of the no-op task.
type Args struct {
	UserID int    `json:"user_id"`
	Kind   string `json:"kind"`
}

// Noop is the no-op task's function.
func Noop(context.Context, Args) (struct{}, error) { return struct{}{}, nil }

// Batch returns n distinct Args.
func Batch(n int) []Args {
	args := make([]Args, n)
	for i := range args {
		args[i] = Args{UserID: i, Kind: "welcome"}
	}
	return args
}

// Quiet is a logger that drops everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Counter is an apply-state filter that counts the jobs stored as
// Succeeded in Done and closes Finished once they number Want.
type Counter struct {
	filters.Defaults
	Want, Done *atomic.Int64
	Finished   chan struct{}
}

// NewCounter returns a Counter that closes Finished after want jobs (never
// for a negative want).
func NewCounter(want int64) Counter {
	c := Counter{Want: new(atomic.Int64), Done: new(atomic.Int64), Finished: make(chan struct{})}
	c.Want.Store(want)
	return c
}

// OnStateApplied implements filters.ApplyStateFilter.
func (c Counter) OnStateApplied(_ context.Context, a *filters.ApplyStateContext) {
	if a.State.Name() == states.NameSucceeded && c.Done.Add(1) == c.Want.Load() {
		close(c.Finished)
	}
}

// EndToEnd enqueues b.N no-op jobs on a memstore, then measures a worker
// running them all (fetch, decode, run, encode, store Succeeded with
// history) with events given to the client and the worker, and extra as
// filters of both. It reports jobs/s and the process's CPU per job.
func EndToEnd(b *testing.B, events *taskflow.Events, extra ...filters.Filter) {
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "noop", Noop)
	if err != nil {
		b.Fatal(err)
	}
	store := memstore.New()
	c, err := taskflow.NewClient(store, taskflow.ClientOptions{Events: events, Filters: extra})
	if err != nil {
		b.Fatal(err)
	}
	args := Batch(1000)
	ctx := context.Background()
	for i := 0; i < b.N; i += len(args) {
		if _, err := task.On(c).EnqueueMany(ctx, args[:min(len(args), b.N-i)]); err != nil {
			b.Fatal(err)
		}
	}
	counter := NewCounter(int64(b.N))
	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Logger: Quiet, Filters: append([]filters.Filter{counter}, extra...), Events: events})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	b.ReportAllocs()
	cpu := CPUTime()
	b.ResetTimer()
	stopped := make(chan error)
	go func() { stopped <- w.Run(runCtx) }()
	<-counter.Finished
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64((CPUTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/job")
	stop()
	<-stopped
}

// CPUTime returns the CPU time (user and system) the process has used, to
// report work per job apart from what other processes on the machine do.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
