package dashboard

import (
	"context"
	"sync"
	"time"

	"github.com/taskflow-go/taskflow/taskflow"
)

// countsTTL is how long the lists reuse the counts of a queue: a list's
// total is shown as it was a few seconds ago (the overview counts afresh).
const countsTTL = 5 * time.Second

// maxCounted bounds the queues whose counts are kept.
const maxCounted = 64

// countCache keeps the job counts per queue for countsTTL, so that paging
// through a list does not count the store on every page.
type countCache struct {
	mu sync.Mutex
	m  map[string]counted
}

type counted struct {
	at     time.Time
	counts taskflow.JobCounts
}

// get returns the counts of queue ("": every queue), from the cache or
// from count.
func (c *countCache) get(ctx context.Context, queue string, count func(context.Context, string) (taskflow.JobCounts, error)) (taskflow.JobCounts, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[queue]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < countsTTL {
		return e.counts, nil
	}
	counts, err := count(ctx, queue)
	if err != nil {
		return counts, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCounted {
		c.m = map[string]counted{}
	}
	c.m[queue] = counted{now, counts}
	return counts, nil
}
