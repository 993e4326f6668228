package taskflow

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// WorkerInfo is a worker as Client.Workers reports it.
type WorkerInfo struct {
	ID          string
	Host        string
	PID         int
	Queues      []string
	Concurrency int
	// Tasks names the tasks the worker can run, sorted; nil for a worker
	// of a release that does not say.
	Tasks       []string
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// serves reports whether w runs jobs of task: a worker that does not say
// which tasks it runs is taken to run them all.
func (w WorkerInfo) serves(task string) bool {
	if w.Tasks == nil {
		return true
	}
	_, ok := slices.BinarySearch(w.Tasks, task)
	return ok
}

// unservedSample is how many of the newest jobs of each waiting state
// Client.Unserved reads for their tasks.
const unservedSample = 1000

// Unserved is work that no live worker can do: queues and tasks that have
// jobs but no worker to run them, because of a task or queue missing from
// the workers' configuration, a misspelt task name, or workers of a
// release not deployed yet.
type Unserved struct {
	// Workers is how many live workers there are.
	Workers int
	// Queues are the queues with jobs waiting (Enqueued) that no live
	// worker serves, by name (their Held is not counted: 0).
	Queues []QueueInfo
	// Tasks maps the task of each waiting job (Enqueued or Scheduled,
	// among the newest 1,000 of each) that no live worker runs to how
	// many of those jobs it has. A worker that does not say which tasks it
	// runs (of an older release) is taken to run every task.
	Tasks map[string]int
}

// Unserved reports the queues and tasks that have jobs but no live worker
// to run them. It needs a store that implements storage.Workers,
// storage.Queues and storage.Lister.
func (c *Client) Unserved(ctx context.Context) (Unserved, error) {
	workers, err := c.Workers(ctx)
	if err != nil {
		return Unserved{}, err
	}
	queues, err := c.listQueues(ctx, false) // Held is not needed here
	if err != nil {
		return Unserved{}, err
	}
	l, err := c.lister()
	if err != nil {
		return Unserved{}, fmt.Errorf("taskflow: unserved work: %w", err)
	}
	out := Unserved{Workers: len(workers), Tasks: map[string]int{}}
	for _, q := range queues {
		if q.Enqueued > 0 && !slices.ContainsFunc(workers, func(w WorkerInfo) bool { return slices.Contains(w.Queues, q.Name) }) {
			out.Queues = append(out.Queues, q)
		}
	}
	for _, st := range []states.Name{states.NameEnqueued, states.NameScheduled} {
		jobs, err := l.List(ctx, &storage.ListParams{State: st, Limit: unservedSample})
		if err != nil {
			return Unserved{}, fmt.Errorf("taskflow: unserved work: %w", err)
		}
		for _, j := range jobs {
			if !slices.ContainsFunc(workers, func(w WorkerInfo) bool { return w.serves(j.Task) }) {
				out.Tasks[j.Task]++
			}
		}
	}
	return out, nil
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
