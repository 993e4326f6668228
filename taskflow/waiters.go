package taskflow

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/storage"
)

// finishWatch shares one subscription to the store's TopicFinished among
// a client's waiting handles (and those of the clients WithTx derives): it subscribes when the first handle starts
// waiting and lets go when the last one stops, so a client that waits for
// nothing holds no connection for it.
type finishWatch struct {
	mu      sync.Mutex
	waiters map[chan struct{}]struct{}
	stop    context.CancelFunc
}

// watch returns a channel that receives a value (coalesced) whenever jobs
// finished, and what stops watching. With a store that cannot notify, the
// channel never receives and the handle polls.
func (c *Client) watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n, ok := c.reader.(storage.Notifier)
	if !ok {
		return ch, func() {}
	}
	f := c.finished
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiters == nil {
		f.waiters = map[chan struct{}]struct{}{}
	}
	if len(f.waiters) == 0 {
		ctx, cancel := context.WithCancel(context.Background())
		f.stop = cancel
		go func() { // subscribing may dial; the handle polls meanwhile
			if src, err := n.Subscribe(ctx, storage.TopicFinished); err == nil {
				f.fanOut(src)
			}
		}()
	}
	f.waiters[ch] = struct{}{}
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.waiters, ch)
		if len(f.waiters) == 0 && f.stop != nil {
			f.stop()
			f.stop = nil
		}
	}
}

// fanOut passes each wake-up of src to every waiter, until src closes.
func (f *finishWatch) fanOut(src <-chan struct{}) {
	for range src {
		f.mu.Lock()
		for ch := range f.waiters {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		f.mu.Unlock()
	}
}

// peek reads job id's current state, without its history where the store
// can.
func (c *Client) peek(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	if p, ok := c.reader.(storage.Peeker); ok {
		return p.Peek(ctx, id)
	}
	return c.reader.Get(ctx, id)
}
