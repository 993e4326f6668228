package storage

import (
	"context"
	"time"
)

// QueueInfo is a queue as [Queues.ListQueues] reports it.
type QueueInfo struct {
	Name   string
	Paused bool
	// Enqueued is how many jobs wait in the queue.
	Enqueued int64
	// OldestEnqueued is when the job waiting longest became Enqueued, or,
	// where finding it would read every waiting job, the job next to run
	// (the same in a queue without priorities); zero when none waits.
	OldestEnqueued time.Time
}

// Queues is implemented by stores that pause queues durably: every
// worker's Fetch skips a paused queue, whose jobs stay where they are.
type Queues interface {
	// SetQueuePaused pauses or resumes queue, which need not have jobs.
	// Resuming MUST wake fetchers (TopicEnqueued).
	SetQueuePaused(ctx context.Context, queue string, paused bool) error
	// ListQueues returns every queue that has Enqueued jobs or is paused,
	// ordered by name.
	ListQueues(ctx context.Context) ([]QueueInfo, error)
}
