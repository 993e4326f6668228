package taskflowtest_test

import (
	"context"
	"testing"

	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowtest"
)

// BenchmarkDrain reports what running one job inline costs: b.N jobs are
// enqueued, then drained.
func BenchmarkDrain(b *testing.B) {
	ctx := context.Background()
	reg := taskflow.NewRegistry()
	echo, err := taskflow.RegisterTask(reg, "echo", func(_ context.Context, n int) (int, error) { return n, nil })
	if err != nil {
		b.Fatal(err)
	}
	h := taskflowtest.New(b, taskflowtest.Options{Registry: reg, MaxRuns: b.N})
	args := make([]int, b.N)
	if _, err := echo.On(h.Client).EnqueueMany(ctx, args); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if runs := h.Drain(ctx); len(runs) != b.N {
		b.Fatalf("%d runs, want %d", len(runs), b.N)
	}
}
