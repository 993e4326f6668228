package rig_test

import (
	"context"
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// TestStartRunsJobs: a job enqueued through the rig's client runs on its
// worker, and Stop returns once the worker has stopped, as often as it is
// called.
func TestStartRunsJobs(t *testing.T) {
	reg := taskflow.NewRegistry()
	double, err := taskflow.RegisterTask(reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	if err != nil {
		t.Fatal(err)
	}
	r := rig.Start(t, memstore.New(), rig.Options{Worker: taskflow.WorkerOptions{Registry: reg}})
	if r.Registry != reg {
		t.Fatalf("Registry = %p, want the one given %p", r.Registry, reg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := double.On(r.Client).Enqueue(ctx, 21)
	if err != nil {
		t.Fatal(err)
	}
	n, err := h.Wait(ctx)
	if err != nil || n != 42 {
		t.Fatalf("Wait = %d, %v; want 42, nil", n, err)
	}
	for range 2 {
		if err := r.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
}
