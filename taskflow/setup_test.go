package taskflow_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// env is a test fixture: a registry, a memstore and a client, isolated from
// other tests.
type env struct {
	reg    *taskflow.Registry
	store  *memstore.Store
	client *taskflow.Client
}

func setup(t *testing.T) *env {
	t.Helper()
	store := memstore.New()
	c, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	require.NoError(t, err)
	return &env{reg: taskflow.NewRegistry(), store: store, client: c}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// opts fills in the fixture's registry and a quiet logger.
func (e *env) opts(opts taskflow.WorkerOptions) taskflow.WorkerOptions {
	if opts.Registry == nil {
		opts.Registry = e.reg
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	return opts
}

// startWorker runs a worker until the test ends and waits for it to stop.
func (e *env) startWorker(t *testing.T, opts taskflow.WorkerOptions) (*taskflow.Worker, context.CancelFunc) {
	t.Helper()
	r := rig.Start(t, e.store, rig.Options{Worker: e.opts(opts)})
	return r.Worker, func() {
		if err := r.Stop(); err != nil {
			t.Errorf("worker: %v", err)
		}
	}
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func instantRetry(attempts int) taskflow.PolicyOption {
	return taskflow.WithRetry(retryNow(attempts))
}

func newID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	require.NoError(t, err)
	return id
}

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}
