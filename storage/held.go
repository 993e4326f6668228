package storage

import (
	"context"
	"time"
)

// HeldCounter is implemented by stores with [FlowControl] that count the
// Enqueued jobs their limits hold back, so that job counts can tell jobs
// waiting on a limit apart from jobs waiting for a worker. Every store that
// implements FlowControl MUST implement it too: storagetest fails one that
// does not.
type HeldCounter interface {
	// CountHeld returns, per queue, how many of its Enqueued jobs a full
	// limit holds back now: jobs that Fetch would not lease at this moment
	// because a stored limit applying to them (their queue's, their
	// task's, their task's for their partition) has every Concurrency slot
	// in use or its Rate spent (GCRA refuses a start now). A job held by
	// several limits counts once. Queues with no such job are left out.
	// Other reasons a job waits (a paused queue, no worker) do not count.
	CountHeld(ctx context.Context) (map[string]int64, error)
}

// Holds tells which Enqueued jobs the limits hold back at one moment: a
// helper for stores that implement [HeldCounter] from the limits, the
// Processing jobs they count and their GCRA times.
type Holds struct {
	limits  map[holdKey]Limit // by scope and name, partition empty
	running map[holdKey]int64
	tat     map[holdKey]time.Time
	now     time.Time
}

type holdKey struct {
	scope           LimitScope
	name, partition string
}

// NewHolds returns the Holds of limits at now, with no job running and no
// rate spent.
func NewHolds(limits []Limit, now time.Time) *Holds {
	h := &Holds{limits: make(map[holdKey]Limit, len(limits)), running: map[holdKey]int64{}, tat: map[holdKey]time.Time{}, now: now}
	for _, l := range limits {
		h.limits[holdKey{scope: l.Scope, name: l.Name}] = l
	}
	return h
}

// applying calls fn with each limit that applies to a job of queue, task
// and partition, and the key it counts the job under, until fn returns
// false; it reports whether none did.
func (h *Holds) applying(queue, task, partition string, fn func(l Limit, k holdKey) bool) bool {
	for _, k := range [3]holdKey{{ScopeQueue, queue, ""}, {ScopeTask, task, ""}, {ScopePartition, task, ""}} {
		l, ok := h.limits[k]
		if !ok {
			continue
		}
		if k.scope == ScopePartition {
			k.partition = partition
		}
		if !fn(l, k) {
			return false
		}
	}
	return true
}

// Running counts n Processing jobs of queue, task and partition under the
// limits that apply to them.
func (h *Holds) Running(queue, task, partition string, n int64) {
	h.applying(queue, task, partition, func(_ Limit, k holdKey) bool {
		h.running[k] += n
		return true
	})
}

// Rate records the GCRA time stored for the rate limit of scope and name
// (and partition, for ScopePartition).
func (h *Holds) Rate(scope LimitScope, name, partition string, tat time.Time) {
	h.tat[holdKey{scope, name, partition}] = tat
}

// full reports whether l, counting under k, lets no job start now.
func (h *Holds) full(l Limit, k holdKey) bool {
	if l.Concurrency > 0 && h.running[k] >= int64(l.Concurrency) {
		return true
	}
	ok, _ := GCRA(l, h.tat[k], h.now)
	return !ok
}

// Held reports whether a full limit holds back an Enqueued job of queue,
// task and partition.
func (h *Holds) Held(queue, task, partition string) bool {
	return !h.applying(queue, task, partition, func(l Limit, k holdKey) bool { return !h.full(l, k) })
}

// Full returns what the full limits hold back whole: the queues and the
// tasks whose limit is full, and the partitions (task, then partition)
// whose task's partition limit is full for them. An Enqueued job is held
// exactly when its queue, its task or its partition is listed.
func (h *Holds) Full() (queues, tasks []string, partitions [][2]string) {
	seen := map[holdKey]bool{}
	check := func(k holdKey) {
		if seen[k] {
			return
		}
		seen[k] = true
		l, ok := h.limits[holdKey{scope: k.scope, name: k.name}]
		if !ok || !h.full(l, k) {
			return
		}
		switch k.scope {
		case ScopeQueue:
			queues = append(queues, k.name)
		case ScopeTask:
			tasks = append(tasks, k.name)
		default:
			partitions = append(partitions, [2]string{k.name, k.partition})
		}
	}
	for k := range h.limits {
		if k.scope != ScopePartition {
			check(k)
		}
	}
	for k := range h.running {
		check(k)
	}
	for k := range h.tat {
		check(k)
	}
	return queues, tasks, partitions
}
