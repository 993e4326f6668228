// Package rig is a test rig: it runs a taskflow worker on a store for the
// length of a test, with a client on the same store, in place of the
// registry, client, worker and goroutine each test would otherwise set up by
// hand. Only taskflow's own tests import it.
package rig

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Options configure a rig. The zero value gives a client with default
// options and a quiet worker on a registry of its own.
type Options struct {
	// Client configures the rig's client.
	Client taskflow.ClientOptions
	// Worker configures the running worker. A nil Registry is a new empty
	// one; a nil Logger discards the worker's log. Register the tasks on
	// the registry before Start: the worker takes its queues from it.
	Worker taskflow.WorkerOptions
}

// Rig is a client and a running worker on one store.
type Rig struct {
	// Client enqueues to, and reads from, the rig's store.
	Client *taskflow.Client
	// Registry is the worker's registry.
	Registry *taskflow.Registry
	// Worker is the running worker.
	Worker *taskflow.Worker

	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	stopped sync.Once
	checked bool
}

// Start creates the rig's client and worker on store and runs the worker
// until Stop or the end of the test. When the test ends with the worker
// still running, the rig stops it and fails the test if Run returned an
// error.
func Start(t testing.TB, store storage.Store, opts Options) *Rig {
	t.Helper()
	if opts.Worker.Registry == nil {
		opts.Worker.Registry = taskflow.NewRegistry()
	}
	if opts.Worker.Logger == nil {
		opts.Worker.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c, err := taskflow.NewClient(store, opts.Client)
	if err != nil {
		t.Fatalf("rig: client: %v", err)
	}
	w, err := taskflow.NewWorker(store, opts.Worker)
	if err != nil {
		t.Fatalf("rig: worker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Rig{Client: c, Registry: opts.Worker.Registry, Worker: w, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = w.Run(ctx)
	}()
	t.Cleanup(func() {
		if err := r.stop(); err != nil && !r.checked {
			t.Errorf("rig: worker: %v", err)
		}
	})
	return r
}

// Stop stops the worker, waits for Run to return and returns its error.
// Stopping again returns the same error. A test that calls Stop checks the
// error itself; the rig no longer reports it.
func (r *Rig) Stop() error {
	r.checked = true
	return r.stop()
}

func (r *Rig) stop() error {
	r.stopped.Do(func() {
		r.cancel()
		<-r.done
	})
	return r.err
}
