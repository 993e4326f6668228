package taskflow

import (
	"context"
	"fmt"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// QueueInfo is a queue as Client.Queues reports it.
type QueueInfo struct {
	Name   string
	Paused bool
	// Enqueued is how many jobs wait in the queue.
	Enqueued int64
	// Held is how many of them a full limit holds back, as
	// JobCounts.Held counts them; the others wait only for a worker.
	Held int64
	// Latency is how long the job waiting longest has waited (on
	// PostgreSQL, the job next to run: the same in a queue without
	// priorities); zero when none waits.
	Latency time.Duration
}

func (c *Client) queues() (storage.Queues, error) {
	return capability[storage.Queues](c.store)
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
	return c.listQueues(ctx, true)
}

// listQueues is Queues; withHeld false leaves QueueInfo.Held 0 and saves
// counting the held jobs.
func (c *Client) listQueues(ctx context.Context, withHeld bool) ([]QueueInfo, error) {
	qs, err := c.queues()
	if err != nil {
		return nil, fmt.Errorf("taskflow: list queues: %w", err)
	}
	list, err := qs.ListQueues(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskflow: list queues: %w", err)
	}
	var held map[string]int64
	if withHeld {
		if held, err = c.held(ctx); err != nil {
			return nil, fmt.Errorf("taskflow: list queues: %w", err)
		}
	}
	now := c.now()
	out := make([]QueueInfo, len(list))
	for i, q := range list {
		out[i] = QueueInfo{Name: q.Name, Paused: q.Paused, Enqueued: q.Enqueued, Held: min(held[q.Name], q.Enqueued)}
		if !q.OldestEnqueued.IsZero() {
			out[i].Latency = max(now.Sub(q.OldestEnqueued), 0)
		}
	}
	return out, nil
}
