package flowstress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// WorkerCase is a case of Workers.
type WorkerCase struct {
	Name       string
	Partitions int // jobs spread over this many partitions; 0: no partition key
	Limit      int // concurrency per partition; 0: none
	QueueLimit int // concurrency of the queue; 0: none
}

// WorkerCases are the cases each store benchmarks: "unconstrained" has no
// partition and no limit; "queue-never-binding" the same jobs under a
// queue limit that never binds (1,000,000 running); "partitions" spreads
// the jobs over 1,000 partitions without a limit; "binding" holds each of
// them to 2 running.
var WorkerCases = []WorkerCase{
	{"unconstrained", 0, 0, 0},
	{"queue-never-binding", 0, 0, 1_000_000},
	{"partitions", 1000, 0, 0},
	{"binding", 1000, 2, 0},
}

// Workers measures flow control at the worker level: one worker at the
// default settings (100 slots) runs b.N jobs of a task that returns at
// once, enqueued first; it reports jobs/s. enqueued, if not nil, runs once
// the jobs are stored; measure runs as the worker starts, and the function
// it returns once every job has run (to report what the store measures).
func Workers(b *testing.B, store storage.Store, c WorkerCase, enqueued func(), measure func() func()) {
	ctx := context.Background()
	var left atomic.Int64
	left.Store(int64(b.N))
	done := make(chan struct{})
	var opts []taskflow.TaskOption
	if c.Partitions > 0 {
		opts = append(opts, taskflow.PartitionBy(func(p string) string { return p }))
	}
	if c.Limit > 0 {
		opts = append(opts, taskflow.PartitionLimit(taskflow.Limits{Concurrency: c.Limit}))
	}
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "t", func(context.Context, string) (int, error) {
		if left.Add(-1) == 0 {
			close(done)
		}
		return 0, nil
	}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	args := make([]string, b.N)
	for i := range args {
		if c.Partitions > 0 {
			args[i] = fmt.Sprint("p", i%c.Partitions)
		}
	}
	for chunk := range slices.Chunk(args, 5000) {
		if _, err := task.On(client).EnqueueMany(ctx, chunk); err != nil {
			b.Fatal(err)
		}
	}
	if enqueued != nil {
		enqueued()
	}
	wo := taskflow.WorkerOptions{Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if c.QueueLimit > 0 {
		wo.QueueLimits = map[string]taskflow.Limits{"default": {Concurrency: c.QueueLimit}}
	}
	w, err := taskflow.NewWorker(store, wo)
	if err != nil {
		b.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	stopped := make(chan error)
	b.ResetTimer()
	report := measure()
	go func() { stopped <- w.Run(wctx) }()
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	report()
	stop()
	if err := <-stopped; err != nil {
		b.Fatal(err)
	}
}
