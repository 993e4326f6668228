package taskflowtest

import (
	"sync"
	"time"
)

// DefaultStart is where a harness's clock starts unless Options.Start says
// otherwise: a fixed time, so that tests are repeatable.
var DefaultStart = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

// Clock is a fake clock: it reads the time it was last set to. It is safe
// for concurrent use. Pass its Now method wherever taskflow takes a clock
// (memstore.WithClock, ClientOptions.Clock, WorkerOptions.Clock).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward for a negative d) and
// returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
