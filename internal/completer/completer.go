// Package completer batches job state changes into few storage calls. Each
// finished job hands its transition to Submit; one or more flushers take
// what has gathered (up to a limit) and store it in one Transition call, so
// under load many completions share a round trip and when idle a completion
// is stored at once, with no timer to wait for.
//
// An engine part of the worker: it imports storage, never package taskflow.
package completer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/taskflow-go/taskflow/internal/outage"
	"github.com/taskflow-go/taskflow/storage"
)

// Item is one transition and the callback told of its outcome.
type Item struct {
	T    storage.Transition
	Done func(err error) // nil, or the per-item or call error
}

// Completer batches transitions. Create it with New, start Run, Submit
// items, then Close and wait for Run to return.
type Completer struct {
	store    storage.Store
	in       chan Item
	maxBatch int
	flushers int
	keep     time.Duration // retention of jobs a transition deletes as a side effect
	now      func() time.Time
	log      *slog.Logger

	mu     sync.RWMutex // guards closed against Submit
	closed bool

	outage outage.Watch
}

// Outage returns the watch on the store's calls that the completer's
// retries follow: a success reported there (by the worker's other loops)
// ends their back-off at once, and the completer reports its own.
func (c *Completer) Outage() *outage.Watch { return &c.outage }

// maxRetryWait bounds the back-off of a failing flush. It is short, so
// that a flush probes a store that is down about once a second and the
// outcomes held back are stored within about a second of its return;
// and any call of the worker that succeeds meanwhile ends it sooner.
const maxRetryWait = time.Second

// New returns a completer that stores at most maxBatch transitions per call
// and runs flushers calls at once; Submit blocks once queue items wait.
// retention is passed on to the store for continuations that the
// transitions delete.
func New(store storage.Store, maxBatch, flushers, queue int, retention time.Duration, now func() time.Time, log *slog.Logger) *Completer {
	return &Completer{
		store: store, in: make(chan Item, max(queue, 1)), maxBatch: maxBatch,
		flushers: max(flushers, 1), keep: retention, now: now, log: log,
	}
}

// Submit queues an item. It blocks while the queue is full. After Close it
// drops the item and reports false: the job stays leased until its lease
// expires, and another worker runs it again.
func (c *Completer) Submit(it Item) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return false
	}
	c.in <- it
	return true
}

// Close tells Run to store what is queued and return.
func (c *Completer) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.in)
	}
}

// Run stores submitted transitions until Close has been called and the
// queue is empty. A failing call is retried with back-off (see
// maxRetryWait and Outage) until it succeeds or ctx is done; then its
// items are told ctx's error, and their jobs stay leased until the lease
// expires and another worker reruns them.
func (c *Completer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range c.flushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.flushLoop(ctx)
		}()
	}
	wg.Wait()
}

func (c *Completer) flushLoop(ctx context.Context) {
	batch := make([]Item, 0, c.maxBatch)
	ts := make([]storage.Transition, 0, c.maxBatch) // reused: stores do not keep it
	for {
		it, ok := <-c.in
		if !ok {
			return
		}
		batch = append(batch[:0], it)
	gather:
		for len(batch) < c.maxBatch {
			select {
			case it, ok := <-c.in:
				if !ok {
					break gather
				}
				batch = append(batch, it)
			default:
				break gather
			}
		}
		ts = ts[:0]
		for _, it := range batch {
			ts = append(ts, it.T)
		}
		c.flush(ctx, batch, ts)
	}
}

func (c *Completer) flush(ctx context.Context, batch []Item, ts []storage.Transition) {
	p := &storage.TransitionParams{Transitions: ts, Retention: c.keep}
	wait := 10 * time.Millisecond
	for {
		p.Now = c.now()
		errs, err := c.store.Transition(ctx, p)
		if err == nil {
			c.outage.Succeeded()
			for i, it := range batch {
				if it.Done != nil {
					it.Done(errs[i])
				}
			}
			return
		}
		if ctx.Err() != nil {
			for _, it := range batch {
				if it.Done != nil {
					it.Done(err)
				}
			}
			return
		}
		c.outage.Failed()
		c.log.Warn("taskflow: storing job states failed; retrying", "jobs", len(batch), "err", err, "retry_in", wait)
		c.outage.Sleep(ctx, wait)
		wait = min(wait*2, maxRetryWait)
	}
}
