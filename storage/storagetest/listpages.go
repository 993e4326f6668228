package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// testListPages checks the order of each list and that walking it page by
// page through cursors, forwards and backwards, meets every job once and
// in order, whatever happens to the job a cursor came from.
func testListPages(t *testing.T, newStore NewStore) {
	s := newStore(t)
	l := s.(storage.Lister)
	var enqueued, scheduled, failed []*storage.Job
	// Enqueued in two queues, with priorities, one job per call so that
	// each is enqueued after the one before.
	for i, p := range []int{0, 5, 0, 5, 0, 1, 0, 1, 0} {
		j := newJob(t, priority(p), inQueue([]string{"default", "mail"}[i%2]))
		create(t, s, j)
		enqueued = append(enqueued, j)
	}
	// Scheduled, due in an order that is not the IDs', with a tie.
	for _, h := range []int{5, 1, 3, 1, 4, 2, 9} {
		j := newJob(t, scheduledAt(base.Add(time.Duration(h)*time.Hour)))
		create(t, s, j)
		scheduled = append(scheduled, j)
	}
	for range 7 {
		j := newJob(t, inQueue("mail"))
		create(t, s, j)
		failed = append(failed, j)
		transition(t, s, false, storage.Transition{ID: j.ID, To: states.NameFailed,
			Data: mustMarshal(states.Failed{FailedAt: base, ErrorMessage: "boom"})})
	}

	byFetchOrder := func(jobs []*storage.Job) []*storage.Job { // stable: enqueue order among equal priorities
		out := slices.Clone(jobs)
		slices.SortStableFunc(out, func(a, b *storage.Job) int { return b.Priority - a.Priority })
		return out
	}
	byDue := func(jobs []*storage.Job) []*storage.Job {
		out := slices.Clone(jobs)
		slices.SortFunc(out, func(a, b *storage.Job) int {
			if c := a.RunAt.Compare(b.RunAt); c != 0 {
				return c
			}
			return compareIDs(a, b)
		})
		return out
	}
	newest := func(jobs []*storage.Job) []*storage.Job {
		out := slices.Clone(jobs)
		slices.SortFunc(out, func(a, b *storage.Job) int { return compareIDs(b, a) })
		return out
	}
	inQueueOf := func(q string, jobs []*storage.Job) []*storage.Job {
		return slices.DeleteFunc(slices.Clone(jobs), func(j *storage.Job) bool { return j.Queue != q })
	}
	tests := []struct {
		name string
		p    storage.ListParams
		want []*storage.Job
	}{
		{"enqueued, in the order workers take them", storage.ListParams{State: states.NameEnqueued}, byFetchOrder(enqueued)},
		{"enqueued of a queue", storage.ListParams{State: states.NameEnqueued, Queue: "mail"}, byFetchOrder(inQueueOf("mail", enqueued))},
		{"enqueued of a task", storage.ListParams{State: states.NameEnqueued, Task: "test-task"}, byFetchOrder(enqueued)},
		{"scheduled, soonest due first", storage.ListParams{State: states.NameScheduled}, byDue(scheduled)},
		{"scheduled of a queue", storage.ListParams{State: states.NameScheduled, Queue: "default"}, byDue(scheduled)},
		{"failed, newest first", storage.ListParams{State: states.NameFailed}, newest(failed)},
		{"failed of a queue", storage.ListParams{State: states.NameFailed, Queue: "mail"}, newest(failed)},
		{"failed of a task", storage.ListParams{State: states.NameFailed, Task: "test-task"}, newest(failed)},
		{"every state, newest first", storage.ListParams{}, newest(slices.Concat(enqueued, scheduled, failed))},
		{"every state of a queue", storage.ListParams{Queue: "mail"}, newest(inQueueOf("mail", slices.Concat(enqueued, scheduled, failed)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all, err := l.List(ctx(t), &tt.p)
			require.NoError(t, err)
			require.Equal(t, idStrings(tt.want), idStrings(all), "the order of the list")
			for _, size := range []int{1, 2, 3} {
				require.Equal(t, idStrings(tt.want), idStrings(walk(t, l, tt.p, size, false)), "forwards by %d", size)
				back := walk(t, l, tt.p, size, true)
				slices.Reverse(back)
				require.Equal(t, idStrings(tt.want), idStrings(back), "backwards by %d", size)
			}
		})
	}

	t.Run("a cursor outlives its job", func(t *testing.T) {
		order := byDue(scheduled)
		p := storage.ListParams{State: states.NameScheduled, Limit: 3}
		page, err := l.List(ctx(t), &p)
		require.NoError(t, err)
		require.Len(t, page, 3)
		cursor := page[2].Cursor
		transition(t, s, false, requeue(page[2].ID)) // it leaves the list
		p.Cursor = cursor
		next, err := l.List(ctx(t), &p)
		require.NoError(t, err)
		require.Equal(t, idStrings(order[3:6]), idStrings(next), "the next page starts where the job was")
		p.Backward = true
		prev, err := l.List(ctx(t), &p)
		require.NoError(t, err)
		require.Equal(t, idStrings([]*storage.Job{order[1], order[0]}), idStrings(prev), "the page before it, nearest first")
	})

	t.Run("a parent's continuations, and a job moved to another queue", func(t *testing.T) {
		parent := newJob(t, inQueue("side"))
		create(t, s, parent)
		var kids []*storage.Job
		for i := range 5 {
			j := newJob(t, awaiting(parent.ID, states.OnSuccess), inQueue([]string{"side", "aside"}[i%2]))
			create(t, s, j)
			kids = append(kids, j)
		}
		stranger := newJob(t, awaiting(enqueued[0].ID, states.OnSuccess), inQueue("side")) // another parent's
		create(t, s, stranger)
		moved := kids[2]
		require.Equal(t, []error{nil}, transition(t, s, false, storage.Transition{ID: moved.ID, To: states.NameDeleted,
			Queue: "elsewhere", Data: mustMarshal(states.Deleted{DeletedAt: base})}))
		awaitingKids := slices.DeleteFunc(slices.Clone(kids), func(j *storage.Job) bool { return j == moved })
		for _, tt := range []struct {
			name string
			p    storage.ListParams
			want []*storage.Job
		}{
			{"continuations", storage.ListParams{ParentID: parent.ID}, newest(kids)},
			{"awaiting continuations", storage.ListParams{ParentID: parent.ID, State: states.NameAwaiting}, newest(awaitingKids)},
			{"continuations of a queue", storage.ListParams{ParentID: parent.ID, Queue: "aside"}, newest(inQueueOf("aside", kids))},
			{"every state of the queue left", storage.ListParams{Queue: "side"}, newest(slices.DeleteFunc(
				slices.Concat([]*storage.Job{parent, stranger}, kids), func(j *storage.Job) bool { return j.Queue != "side" || j == moved }))},
			{"every state of the queue moved to", storage.ListParams{Queue: "elsewhere"}, []*storage.Job{moved}},
		} {
			all, err := l.List(ctx(t), &tt.p)
			require.NoError(t, err)
			require.Equal(t, idStrings(tt.want), idStrings(all), tt.name)
			for _, size := range []int{1, 2} {
				require.Equal(t, idStrings(tt.want), idStrings(walk(t, l, tt.p, size, false)), "%s, forwards by %d", tt.name, size)
				back := walk(t, l, tt.p, size, true)
				slices.Reverse(back)
				require.Equal(t, idStrings(tt.want), idStrings(back), "%s, backwards by %d", tt.name, size)
			}
		}
	})

	t.Run("a bad cursor is refused", func(t *testing.T) {
		for _, c := range []string{"nonsense", "1|2|3|4|5", "\x00"} {
			_, err := l.List(ctx(t), &storage.ListParams{State: states.NameEnqueued, Cursor: c, Limit: 1})
			require.ErrorIs(t, err, storage.ErrBadCursor, "cursor %q", c)
		}
	})
}

// walk lists every job of p, size at a time, from each page's last
// cursor: forwards, or backwards from the end.
func walk(t *testing.T, l storage.Lister, p storage.ListParams, size int, backward bool) []*storage.Job {
	t.Helper()
	p.Limit, p.Backward, p.Cursor = size, backward, ""
	var out []*storage.Job
	for range 100 {
		page, err := l.List(ctx(t), &p)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), size)
		out = append(out, page...)
		if len(page) < size {
			return out
		}
		p.Cursor = page[len(page)-1].Cursor
		require.NotEmpty(t, p.Cursor, "List sets each job's cursor")
	}
	panic(fmt.Sprintf("a walk of %d jobs a page did not end", size))
}

func compareIDs(a, b *storage.Job) int {
	return slices.Compare(a.ID[:], b.ID[:])
}
