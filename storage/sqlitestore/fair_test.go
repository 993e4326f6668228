package sqlitestore

import (
	"cmp"
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
	for seed := range uint64(5) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			s := newStore(t)
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
				next := roundRobin(all)
				taken := map[*storage.Job]bool{}
				for _, j := range next[:min(n, len(next))] {
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
