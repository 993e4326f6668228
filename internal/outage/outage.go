// Package outage tells the loops of a worker that back off from a failing
// store that the store answers again, so that none of them sleeps through
// the end of an outage: the first call that succeeds after a failure wakes
// every loop that waits to retry.
//
// An engine part of the worker: it imports storage, never package taskflow.
package outage

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Watch follows whether a store's calls fail. The zero value is ready for
// use; it is safe for concurrent use.
type Watch struct {
	down atomic.Bool // a call failed and none has succeeded since
	mu   sync.Mutex
	back chan struct{} // closed when the store answers again; nil until asked for
}

// Failed records that a store call failed.
func (w *Watch) Failed() { w.down.Store(true) }

// Succeeded records that a store call succeeded. After a failure it wakes
// every loop waiting in Back or Sleep. It costs one atomic load when
// nothing failed.
func (w *Watch) Succeeded() {
	if !w.down.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down.CompareAndSwap(true, false) && w.back != nil {
		close(w.back)
		w.back = nil
	}
}

// closed is a channel that is always ready.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Back returns a channel that is closed once a call succeeds after a
// failure; it is closed already when no failure is pending, since a call
// succeeded after the caller's own failure.
func (w *Watch) Back() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.down.Load() {
		return closed
	}
	if w.back == nil {
		w.back = make(chan struct{})
	}
	return w.back
}

// Sleep waits for d, or until the store answers again (see Back), or until
// ctx is done. It reports whether ctx is still live.
func (w *Watch) Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-w.Back():
	case <-t.C:
	}
	return true
}
