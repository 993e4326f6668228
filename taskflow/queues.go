package taskflow

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// QueueInfo is a queue as Client.Queues reports it.
type QueueInfo struct {
	Name   string
	Paused bool
	// Enqueued is how many jobs wait in the queue.
	Enqueued int64
	// Latency is how long the job waiting longest has waited (on
	// PostgreSQL, the job next to run: the same in a queue without
	// priorities); zero when none waits.
	Latency time.Duration
}

func (c *Client) queues() (storage.Queues, error) {
	qs, ok := c.store.(storage.Queues)
	if !ok {
		return nil, fmt.Errorf("the store implements no storage.Queues: %w", ErrNotSupported)
	}
	return qs, nil
}

// PauseQueue stops every worker from fetching jobs of queue, durably,
// until ResumeQueue. Its jobs stay in it; jobs already running finish.
func (c *Client) PauseQueue(ctx context.Context, queue string) error {
	return c.setPaused(ctx, "pause", queue, true)
}

// ResumeQueue lets workers fetch jobs of queue again, and wakes them.
func (c *Client) ResumeQueue(ctx context.Context, queue string) error {
	return c.setPaused(ctx, "resume", queue, false)
}

func (c *Client) setPaused(ctx context.Context, op, queue string, paused bool) error {
	err := ValidateQueue(queue)
	if err == nil {
		var qs storage.Queues
		if qs, err = c.queues(); err == nil {
			err = qs.SetQueuePaused(ctx, queue, paused)
		}
	}
	if err != nil {
		return fmt.Errorf("taskflow: %s queue %q: %w", op, queue, err)
	}
	return nil
}

// Queues lists the queues that have jobs waiting or are paused, by name.
func (c *Client) Queues(ctx context.Context) ([]QueueInfo, error) {
	qs, err := c.queues()
	if err != nil {
		return nil, fmt.Errorf("taskflow: list queues: %w", err)
	}
	list, err := qs.ListQueues(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskflow: list queues: %w", err)
	}
	now := c.now()
	out := make([]QueueInfo, len(list))
	for i, q := range list {
		out[i] = QueueInfo{Name: q.Name, Paused: q.Paused, Enqueued: q.Enqueued}
		if !q.OldestEnqueued.IsZero() {
			out[i].Latency = max(now.Sub(q.OldestEnqueued), 0)
		}
	}
	return out, nil
}

// StatsPoint counts the jobs that succeeded, failed (for good) and were
// deleted in the period starting At.
type StatsPoint struct {
	At        time.Time
	Succeeded int64
	Failed    int64
	Deleted   int64
}

// Stats returns the outcome counts per period of length step (a whole
// number of minutes: a minute, an hour, a day) from the period holding
// from until to, zero where nothing happened. The store keeps them apart
// from the jobs, per minute, for storage.StatsRetention (8 days), so they
// survive the jobs' retention. It needs a store that implements
// storage.Statistics.
func (c *Client) Stats(ctx context.Context, from, to time.Time, step time.Duration) ([]StatsPoint, error) {
	st, ok := c.store.(storage.Statistics)
	if !ok {
		return nil, fmt.Errorf("taskflow: statistics: the store implements no storage.Statistics: %w", ErrNotSupported)
	}
	if step < time.Minute || step%time.Minute != 0 {
		return nil, fmt.Errorf("%w: statistics step %v: want a whole number of minutes", ErrInvalidOption, step)
	}
	points, err := st.Stats(ctx, from, to, step)
	if err != nil {
		return nil, fmt.Errorf("taskflow: statistics: %w", err)
	}
	out := make([]StatsPoint, len(points))
	for i, p := range points {
		out[i] = StatsPoint(p)
	}
	return out, nil
}

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
	// worker serves, by name.
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
	queues, err := c.Queues(ctx)
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
	ws, ok := c.store.(storage.Workers)
	if !ok {
		return nil, fmt.Errorf("taskflow: list workers: the store implements no storage.Workers: %w", ErrNotSupported)
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
