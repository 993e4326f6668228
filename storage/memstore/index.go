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

// queue holds one level per priority, highest priority first.
type queue struct {
	levels []*level
}

// group is a partition of a queue: the jobs of one task and Partition.
type group struct{ task, partition string }

// level holds the jobs of one priority: one FIFO per group, served round
// robin.
type level struct {
	priority int
	groups   map[group]*fifo
	ring     []*fifo // the groups with entries, in the order they are served
	next     int     // the index in ring of the group served next
}

type fifo struct {
	g     group
	items []item
	head  int
}

func (q *queue) push(priority int, it item) {
	i := 0
	for ; i < len(q.levels); i++ {
		if q.levels[i].priority == priority {
			q.levels[i].push(it)
			return
		}
		if q.levels[i].priority < priority {
			break
		}
	}
	l := &level{priority: priority, groups: map[group]*fifo{}}
	l.push(it)
	q.levels = append(q.levels, nil)
	copy(q.levels[i+1:], q.levels[i:])
	q.levels[i] = l
}

func (l *level) push(it item) {
	g := group{it.r.Task, it.r.Partition}
	f := l.groups[g]
	if f == nil {
		f = &fifo{g: g}
		l.groups[g] = f
		l.ring = append(l.ring, f)
	}
	f.items = append(f.items, it)
}

// verdict is what pop's take says of the first entry of a group.
type verdict uint8

const (
	taken   verdict = iota // the entry is taken
	stale                  // the entry is stale: drop it, look at the next
	blocked                // a limit holds the group back: try another group
)

// pop offers take the first entry of each group of the highest priority
// level whose priority is at most ceiling, if that level has a priority of
// at least floor, round robin from where the last pop left off, until take
// takes one; then the lower levels. It reports whether one was taken.
func (q *queue) pop(floor, ceiling int, take func(item) verdict) bool {
	for i := 0; i < len(q.levels); {
		l := q.levels[i]
		switch {
		case l.priority < floor:
			return false
		case len(l.ring) == 0: // drained
			q.levels = append(q.levels[:i], q.levels[i+1:]...)
			continue
		case l.priority > ceiling:
			i++
			continue
		}
		if l.pop(take) {
			return true
		}
		i++
	}
	return false
}

func (l *level) pop(take func(item) verdict) bool {
	for tried := 0; tried < len(l.ring); {
		if l.next >= len(l.ring) {
			l.next = 0
		}
		f := l.ring[l.next]
		for f.head < len(f.items) {
			it := f.items[f.head]
			v := take(it)
			if v == blocked {
				break
			}
			f.items[f.head] = item{}
			f.head++
			// Compact once the consumed prefix dominates, so memory stays
			// proportional to what is queued.
			if f.head > 1024 && f.head*2 > len(f.items) {
				f.items = append(f.items[:0:0], f.items[f.head:]...)
				f.head = 0
			}
			if v == taken {
				if f.head < len(f.items) {
					l.next++
				} else {
					l.drop()
				}
				return true
			}
		}
		if f.head >= len(f.items) {
			l.drop() // next now names the group after it
			continue
		}
		l.next++
		tried++
	}
	return false
}

// drop removes the drained group at next from the level.
func (l *level) drop() {
	f := l.ring[l.next]
	delete(l.groups, f.g)
	l.ring = append(l.ring[:l.next], l.ring[l.next+1:]...)
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
