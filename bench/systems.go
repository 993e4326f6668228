package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"sync/atomic"
	"time"
)

// A system is one queue library on one store, set up fresh for one
// measurement: its own schema, file, store name or Redis database.
type system interface {
	// insert enqueues n no-op jobs through the library's bulk path, in
	// calls of batch jobs.
	insert(ctx context.Context, n, batch int) error
	// enqueue enqueues one no-op job carrying at, the time the handler
	// measures its pickup from.
	enqueue(ctx context.Context, at time.Time) error
	// start starts the library's workers (the configured count).
	start(ctx context.Context) error
	// close stops the workers and removes what the system created.
	close() error
}

// hooks is what a system's no-op job reports to the measurement.
type hooks struct {
	// done counts jobs completed: stored as finished where the library
	// says so (taskflow's apply-state filter, River's completed events),
	// else when the handler returns (Asynq).
	done atomic.Int64
	// pickup receives, for each job that carries an enqueue time, the time
	// from it to the start of the handler.
	pickup chan time.Duration
}

func newHooks() *hooks { return &hooks{pickup: make(chan time.Duration, 16)} }

// started is called at the start of every job's handler.
func (h *hooks) started(at time.Time) {
	if at.IsZero() {
		return
	}
	select {
	case h.pickup <- time.Since(at):
	default:
	}
}

// env is what the systems share in one sitting.
type env struct {
	cfg       *config
	progress  io.Writer // where a run says what it could not do
	redisAddr string    // taskflow-redis and Asynq; "" when Redis is unavailable
	ownRedis  bool      // redisAddr is a server this program started
}

// needs tells which server a system needs: "postgres", "redis" or "".
func needs(name string) string {
	switch name {
	case "taskflow-postgres", "river-postgres":
		return "postgres"
	case "taskflow-redis", "asynq":
		return "redis"
	}
	return ""
}

// open sets up a fresh instance of the named system.
func (e *env) open(ctx context.Context, name string, h *hooks) (system, error) {
	switch name {
	case "taskflow-memory", "taskflow-sqlite", "taskflow-postgres", "taskflow-redis":
		return e.openTaskflow(ctx, name, h)
	case "river-postgres":
		return e.openRiverPostgres(ctx, h)
	case "river-sqlite":
		return e.openRiverSQLite(ctx, h)
	default:
		return e.openAsynq(ctx, h)
	}
}

// freshName returns prefix followed by random hex: a schema or store name
// no other run uses.
func freshName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
