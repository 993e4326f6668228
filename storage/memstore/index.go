package memstore

import (
	"time"

	"github.com/google/uuid"
)

// item is one entry of a queue. Entries are never removed from the middle:
// an entry whose seq no longer matches the job's live entry is stale and
// skipped when popped.
type item struct {
	r   *record
	seq uint64
}

// queue holds one FIFO per priority level, highest priority first.
type queue struct {
	levels []*fifo
}

type fifo struct {
	priority int
	items    []item
	head     int
}

func (q *queue) push(priority int, it item) {
	i := 0
	for ; i < len(q.levels); i++ {
		if q.levels[i].priority == priority {
			q.levels[i].items = append(q.levels[i].items, it)
			return
		}
		if q.levels[i].priority < priority {
			break
		}
	}
	f := &fifo{priority: priority, items: []item{it}}
	q.levels = append(q.levels, nil)
	copy(q.levels[i+1:], q.levels[i:])
	q.levels[i] = f
}

// pop removes the first item of the highest priority level whose priority
// is at most ceiling, if that level has a priority of at least floor.
func (q *queue) pop(floor, ceiling int) (item, bool) {
	for i := 0; i < len(q.levels); {
		f := q.levels[i]
		switch {
		case f.priority < floor:
			return item{}, false
		case f.head >= len(f.items): // drained
			q.levels = append(q.levels[:i], q.levels[i+1:]...)
			continue
		case f.priority > ceiling:
			i++
			continue
		}
		it := f.items[f.head]
		f.items[f.head] = item{}
		f.head++
		// Compact once the consumed prefix dominates, so memory stays
		// proportional to what is queued.
		if f.head > 1024 && f.head*2 > len(f.items) {
			f.items = append(f.items[:0:0], f.items[f.head:]...)
			f.head = 0
		}
		return it, true
	}
	return item{}, false
}

type timed struct {
	at time.Time
	id uuid.UUID
}

// timeHeap is a min-heap by time, for scheduled jobs and expiring jobs.
type timeHeap []timed

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(timed)) }
func (h *timeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
