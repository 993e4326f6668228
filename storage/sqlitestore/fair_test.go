package sqlitestore

import (
	"cmp"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// TestFetchServesPartitionsRoundRobin: random jobs over priorities and
// partitions, fetched a few at a time, come in the order of the rule:
// highest priority first, then by round (a partition's n-th job left is in
// round n), then in enqueue order.
func TestFetchServesPartitionsRoundRobin(t *testing.T) {
	fetchesFollow(t, nil, func() func([]*storage.Job, int) []*storage.Job {
		return func(all []*storage.Job, n int) []*storage.Job {
			next := roundRobin(all)
			return next[:min(n, len(next))]
		}
	})
}

// fetchesFollow creates 60 random jobs over priorities and partitions in
// a store opened with opts, fetches them a few at a time, and checks that
// each fetch of n leases what the rule newRule makes for the store gives
// for the jobs left (in enqueue order).
func fetchesFollow(t *testing.T, opts []Option, newRule func() func(all []*storage.Job, n int) []*storage.Job) {
	for seed := range uint64(5) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			s, rule := newStore(t, opts...), newRule()
			var all []*storage.Job
			for range 60 {
				j := enqueued()
				j.Priority = r.IntN(3)
				j.Partition = "p" + strconv.Itoa(r.IntN(5))
				_, err := s.Create(testCtx(t), &storage.CreateParams{Jobs: []*storage.Job{j}})
				require.NoError(t, err)
				all = append(all, j)
			}
			var want, got []string
			for len(all) > 0 {
				n := 1 + r.IntN(7)
				page, err := s.Fetch(testCtx(t), &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "w", LeaseFor: time.Minute})
				require.NoError(t, err)
				for _, j := range page {
					got = append(got, j.ID.String())
				}
				taken := map[*storage.Job]bool{}
				for _, j := range rule(all, n) {
					want = append(want, j.ID.String())
					taken[j] = true
				}
				all = slices.DeleteFunc(all, func(j *storage.Job) bool { return taken[j] }) // still in enqueue order
			}
			require.Equal(t, want, got)
		})
	}
}

// roundRobin orders jobs, given in enqueue order, as a fetch serves them.
func roundRobin(jobs []*storage.Job) []*storage.Job {
	type ranked struct {
		j            *storage.Job
		round, order int
	}
	seen := map[[2]string]int{}
	rs := make([]ranked, len(jobs))
	for i, j := range jobs {
		k := [2]string{strconv.Itoa(j.Priority), j.Partition}
		seen[k]++
		rs[i] = ranked{j, seen[k], i}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(b.j.Priority, a.j.Priority), cmp.Compare(a.round, b.round), cmp.Compare(a.order, b.order))
	})
	out := make([]*storage.Job, len(rs))
	for i, r := range rs {
		out[i] = r.j
	}
	return out
}

// TestWalkServesPartitionsRoundRobin: the same, on a store whose fetches
// walk the partitions (as once a limit holds many jobs back), in the
// order of that rule (walkOrder): highest priority first; then a first
// round of each partition's first job, the partitions in bytewise order
// from the one after the partition the last fetch's first round served
// last; then the later rounds, in the first round's order; each
// partition's jobs in enqueue order.
func TestWalkServesPartitionsRoundRobin(t *testing.T) {
	fetchesFollow(t, []Option{walking()}, func() func([]*storage.Job, int) []*storage.Job {
		var cursor string
		return func(all []*storage.Job, n int) []*storage.Job { return walkOrder(all, n, &cursor) }
	})
}

// walkOrder is what a walking fetch of n leases of jobs (of one task, given in
// enqueue order), and the partition it leaves in cursor.
func walkOrder(jobs []*storage.Job, n int, cursor *string) []*storage.Job {
	var out []*storage.Job
	levels := map[int]map[string][]*storage.Job{}
	for _, j := range jobs {
		if levels[j.Priority] == nil {
			levels[j.Priority] = map[string][]*storage.Job{}
		}
		levels[j.Priority][j.Partition] = append(levels[j.Priority][j.Partition], j)
	}
	for _, level := range slices.Backward(slices.Sorted(maps.Keys(levels))) {
		parts := levels[level]
		keys := slices.Sorted(maps.Keys(parts))
		first := 0
		for first < len(keys) && keys[first] <= *cursor {
			first++
		}
		var served []string
		for i := range keys {
			if len(out) == n {
				return out
			}
			k := keys[(first+i)%len(keys)]
			out = append(out, parts[k][0])
			served = append(served, k)
			*cursor = k
		}
		for round := 1; ; round++ {
			more := false
			for _, k := range served {
				if round < len(parts[k]) {
					if len(out) == n {
						return out
					}
					out = append(out, parts[k][round])
					more = true
				}
			}
			if !more {
				break
			}
		}
	}
	return out
}

// walking makes every fair fetch of the store walk its partitions.
func walking() Option { return func(c *config) { c.walk = true } }

// TestPlainFetchKeepsLimits: a fetch of jobs without a partition key goes
// the plain way only when no limit can bind it, so the limits still hold:
// a task's jobs without a key count as one partition of it, and a queue
// or task limit with less room than the fetch binds it.
func TestPlainFetchKeepsLimits(t *testing.T) {
	for _, tt := range []struct {
		name  string
		limit storage.Limit
		want  int
	}{
		{"PartitionLimit", storage.Limit{Scope: storage.ScopePartition, Name: "t", Concurrency: 2}, 2},
		{"TaskLimit", storage.Limit{Scope: storage.ScopeTask, Name: "t", Concurrency: 3}, 3},
		{"QueueLimit", storage.Limit{Scope: storage.ScopeQueue, Name: "default", Concurrency: 4}, 4},
		{"RoomForAll", storage.Limit{Scope: storage.ScopeQueue, Name: "default", Concurrency: 100}, 10},
		{"OtherQueue", storage.Limit{Scope: storage.ScopeQueue, Name: "other", Concurrency: 1}, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			ctx := testCtx(t)
			require.NoError(t, s.SetLimits(ctx, []storage.Limit{tt.limit}))
			for range 10 {
				_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueued()}})
				require.NoError(t, err)
			}
			got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Minute})
			require.NoError(t, err)
			require.Len(t, got, tt.want)
			more, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Minute})
			require.NoError(t, err)
			require.Empty(t, more, "while the first run, a full limit leases nothing more")
		})
	}
}
