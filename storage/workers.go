package storage

import (
	"context"
	"time"
)

// WorkerInfo describes a running worker.
type WorkerInfo struct {
	ID          string
	Host        string
	PID         int
	Queues      []string
	Concurrency int
	// Tasks names the tasks the worker can run, sorted; nil when the
	// worker does not say (a release before it did). Stores keep it as
	// given.
	Tasks       []string
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// Workers is implemented by stores that keep a registry of workers.
// Heartbeats arrive through [Store.ExtendLeases] (ExtendParams.Worker), so a
// worker renews its leases and announces itself in one call.
type Workers interface {
	// ListWorkers returns the registered workers, ordered by ID.
	ListWorkers(ctx context.Context) ([]*WorkerInfo, error)
	// RemoveWorker unregisters a worker that stopped cleanly.
	RemoveWorker(ctx context.Context, id string) error
	// RemoveDeadWorkers unregisters workers whose last heartbeat is older
	// than timeout, by the clock that stamps heartbeats (the store's: a
	// worker's own clock may be skewed or injected), and MUST return their
	// Processing jobs to Enqueued at once. It returns the IDs of the removed
	// workers.
	RemoveDeadWorkers(ctx context.Context, timeout time.Duration) ([]string, error)
}
