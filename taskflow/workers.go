package taskflow

import (
	"context"
	"fmt"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// WorkerInfo is a worker as Client.Workers reports it.
type WorkerInfo struct {
	ID          string
	Host        string
	PID         int
	Queues      []string
	Concurrency int
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// Workers lists the workers registered with the store, by ID: those that
// sent a heartbeat within their WorkerTimeout (the watchdog removes the
// others). It needs a store that implements storage.Workers.
func (c *Client) Workers(ctx context.Context) ([]WorkerInfo, error) {
	ws, err := capability[storage.Workers](c.store)
	if err != nil {
		return nil, fmt.Errorf("taskflow: list workers: %w", err)
	}
	list, err := ws.ListWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskflow: list workers: %w", err)
	}
	out := make([]WorkerInfo, len(list))
	for i, w := range list {
		out[i] = WorkerInfo(*w)
	}
	return out, nil
}
