package taskflow

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// EventKind says what happened to a job.
type EventKind uint8

// Event kinds.
const (
	// EventEnqueued: a job was created Enqueued, or moved back to its queue
	// (requeued by a person or a stopping worker).
	EventEnqueued EventKind = iota + 1
	// EventScheduled: a job was created delayed, or rescheduled.
	EventScheduled
	// EventAwaiting: a continuation was created and waits for its parent.
	EventAwaiting
	// EventStarted: a worker started an attempt.
	EventStarted
	// EventSucceeded: an attempt succeeded.
	EventSucceeded
	// EventRetried: an attempt failed and the job will run again.
	EventRetried
	// EventFailed: the job failed for good (or was moved to Failed).
	EventFailed
	// EventDeleted: the job was deleted.
	EventDeleted
	// EventLeaseLost: an attempt's job was taken from it while it ran, or
	// before its outcome was stored, which the store then refused (Err
	// says why: ErrJobRequeued, ErrJobRescheduled, ErrJobDeleted,
	// ErrJobStateChanged, or ErrLeaseLost when the store reclaimed it);
	// its ctx is cancelled and its outcome discarded. A lease ended by the
	// attempt's own stored outcome is not lost. State is nil.
	EventLeaseLost
	// EventLimitHeld: a limit began to hold jobs back (it is full, or its
	// rate is spent, and jobs of its scope wait). A worker that declares
	// limits checks them every few seconds while anyone subscribes, and
	// publishes one event per limit and partition each time it starts
	// holding jobs. Limit says which and how many; Task or Queue names
	// its scope; JobID is zero.
	EventLimitHeld
)

var eventNames = [...]string{"", "enqueued", "scheduled", "awaiting", "started", "succeeded", "retried", "failed", "deleted", "lease_lost", "limit_held"}

// String returns the kind's lower-case name, as metrics label it.
func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is something that happened to a job, as the client or worker that
// did it saw it, once it was stored.
type Event struct {
	Kind    EventKind
	JobID   uuid.UUID
	Task    string
	Queue   string
	Attempt int // the attempt it concerns; 0 before the first
	At      time.Time
	// Pickup is, for EventStarted, how long the job waited from its
	// creation until this attempt started.
	Pickup time.Duration
	// Duration is, for the end of an attempt (EventSucceeded, EventRetried,
	// EventFailed, or EventDeleted by a retry policy), how long it ran.
	Duration time.Duration
	// Err is the attempt's error, for EventRetried and EventFailed (and
	// EventDeleted after a failed attempt).
	Err error
	// State is the state the job entered; nil for EventStarted.
	State states.State
	// Worker is the ID of the worker that reported it; empty for a client.
	Worker string
	// Limit is, for EventLimitHeld, the limit and its use.
	Limit *LimitInfo
}

// Cause names, for EventLeaseLost, why the job was taken from the attempt,
// in a word metrics can label: requeued, rescheduled, deleted,
// state_changed, or reclaimed (ErrLeaseLost); "" for other events.
func (ev Event) Cause() string {
	if ev.Kind != EventLeaseLost {
		return ""
	}
	for _, c := range [...]struct {
		err  error
		name string
	}{
		{ErrJobRequeued, "requeued"},
		{ErrJobRescheduled, "rescheduled"},
		{ErrJobDeleted, "deleted"},
		{ErrJobStateChanged, "state_changed"},
	} {
		if errors.Is(ev.Err, c.err) {
			return c.name
		}
	}
	return "reclaimed"
}

// Events delivers the events of the clients and workers given it
// (ClientOptions.Events, WorkerOptions.Events) to its subscribers, in
// process. Publishing never blocks: a subscriber that does not keep up
// loses events, and counts them. With no subscriber it costs an atomic
// load. The zero value is not usable; call NewEvents.
//
// Each event is published by the client or worker that stored its state,
// once stored, so the events of one job may interleave: the next attempt's
// EventStarted may come before the EventRetried of the attempt before it.
// An attempt's EventStarted always comes before its end.
type Events struct {
	mu   sync.RWMutex                    // held for writing to change subs or close a channel
	subs atomic.Pointer[[]*Subscription] // copy on write
}

// NewEvents returns an event hub with no subscribers.
func NewEvents() *Events { return &Events{} }

// Subscription receives events on C until Close.
type Subscription struct {
	// C receives the events; it is closed by Close.
	C       <-chan Event
	c       chan Event
	dropped atomic.Int64
	hub     *Events
	once    sync.Once
}

// Subscribe returns a subscription whose channel holds up to buffer events
// (at least 1) that it has not read yet; events beyond are dropped and
// counted.
func (e *Events) Subscribe(buffer int) *Subscription {
	s := &Subscription{c: make(chan Event, max(buffer, 1)), hub: e}
	s.C = s.c
	e.mu.Lock()
	defer e.mu.Unlock()
	var list []*Subscription
	if old := e.subs.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, s)
	e.subs.Store(&list)
	return s
}

// Dropped returns how many events the subscription lost because its
// buffer was full.
func (s *Subscription) Dropped() int64 { return s.dropped.Load() }

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.once.Do(func() {
		e := s.hub
		e.mu.Lock()
		var list []*Subscription
		for _, o := range *e.subs.Load() {
			if o != s {
				list = append(list, o)
			}
		}
		e.subs.Store(&list)
		close(s.c) // under e.mu, which publish holds while it sends
		e.mu.Unlock()
	})
}

// active reports whether anyone listens; callers skip building events
// otherwise.
func (e *Events) active() bool {
	if e == nil {
		return false
	}
	subs := e.subs.Load()
	return subs != nil && len(*subs) > 0
}

// publish hands ev to every subscriber that has room.
func (e *Events) publish(ev Event) {
	if !e.active() {
		return
	}
	e.mu.RLock() // so that Close never closes a channel being sent on
	defer e.mu.RUnlock()
	for _, s := range *e.subs.Load() {
		select {
		case s.c <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}

// eventOf returns the kind of event that entering st is, after from; a
// failed attempt (err) that elected a state other than Failed is a retry.
func eventOf(st states.State, err error) EventKind {
	switch st.Name() {
	case states.NameEnqueued, states.NameScheduled:
		if err != nil {
			return EventRetried
		}
		if st.Name() == states.NameScheduled {
			return EventScheduled
		}
		return EventEnqueued
	case states.NameAwaiting:
		return EventAwaiting
	case states.NameSucceeded:
		return EventSucceeded
	case states.NameFailed:
		return EventFailed
	case states.NameDeleted:
		return EventDeleted
	}
	return 0
}

// created publishes an event for each job stored as itself (ids[i] is the
// ID that stands for jobs[i]; nil ids: each job without a unique key).
func (e *Events) created(jobs []*storage.Job, ids []uuid.UUID, worker string, known *knownState) {
	if !e.active() {
		return
	}
	for i, j := range jobs {
		if ids == nil && j.UniqueKey != "" || ids != nil && ids[i] != j.ID {
			continue
		}
		st, err := known.of(j)
		if err != nil {
			continue
		}
		e.publish(Event{Kind: eventOf(st, nil), JobID: j.ID, Task: j.Task, Queue: j.Queue, At: j.CreatedAt, State: st, Worker: worker})
	}
}
