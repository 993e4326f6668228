package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c, cancel
}

func testFetch(t *testing.T, newStore NewStore) {
	t.Run("FetchLeasesAndMovesToProcessing", func(t *testing.T) {
		s := newStore(t)
		j := newJob(t)
		create(t, s, j)
		got := fetch(t, s, 10)
		require.Len(t, got, 1)
		f := got[0]
		require.Equal(t, j.ID, f.ID)
		require.Equal(t, states.NameProcessing, f.State)
		require.Equal(t, 1, f.Attempt)
		require.Equal(t, owner, f.LeaseOwner)
		require.NotZero(t, f.LeaseToken)
		require.True(t, base.Add(time.Minute).Equal(f.LeaseUntil), "lease until %v", f.LeaseUntil)
		require.JSONEq(t, `{"n":1}`, string(f.Args))

		stored := get(t, s, j.ID)
		require.Equal(t, []states.Name{states.NameEnqueued, states.NameProcessing}, historyNames(stored))
		st, err := stored.CurrentState()
		require.NoError(t, err)
		require.Equal(t, owner, st.(states.Processing).ServerID)
		require.Empty(t, fetch(t, s, 10), "a leased job was fetched again")
	})

	// A worker fetches urgent jobs (Above what it holds) apart from its
	// large batches (NotAbove what it holds).
	t.Run("FetchAboveAndNotAboveAPosition", func(t *testing.T) {
		queues := []string{"high", "mid", "low"}
		jobs := map[string]*storage.Job{
			"high/0": newJob(t, inQueue("high")),
			"mid/9":  newJob(t, inQueue("mid"), priority(9)),
			"mid/5":  newJob(t, inQueue("mid"), priority(5)),
			"mid/4":  newJob(t, inQueue("mid"), priority(4)),
			"mid/-3": newJob(t, inQueue("mid"), priority(-3)),
			"low/9":  newJob(t, inQueue("low"), priority(9)),
		}
		pos := func(q string, p int) *storage.Position { return &storage.Position{Queue: q, Priority: p} }
		for _, tc := range []struct {
			name            string
			above, notAbove *storage.Position
			want            []string
		}{
			{"above, within the middle queue", pos("mid", 4), nil, []string{"high/0", "mid/9", "mid/5"}},
			{"above every priority of a queue", pos("mid", -4), nil, []string{"high/0", "mid/9", "mid/5", "mid/4", "mid/-3"}},
			{"above, first queue, equal priority", pos("high", 0), nil, nil},
			{"above, last queue", pos("low", 8), nil, []string{"high/0", "mid/9", "mid/5", "mid/4", "mid/-3", "low/9"}},
			{"not above, within the middle queue", nil, pos("mid", 5), []string{"mid/5", "mid/4", "mid/-3", "low/9"}},
			{"not above, first queue", nil, pos("high", 0), []string{"high/0", "mid/9", "mid/5", "mid/4", "mid/-3", "low/9"}},
			{"not above, last queue", nil, pos("low", 8), nil},
			{"both", pos("mid", -3), pos("mid", 5), []string{"mid/5", "mid/4"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				for _, j := range jobs {
					c := *j
					create(t, s, &c)
				}
				got, err := s.Fetch(ctx(t), &storage.FetchParams{Queues: queues, Limit: 100, Owner: owner, LeaseFor: time.Minute, Now: base, Above: tc.above, NotAbove: tc.notAbove})
				require.NoError(t, err)
				want := []uuid.UUID{}
				for _, k := range tc.want {
					want = append(want, jobs[k].ID)
				}
				require.Equal(t, want, append([]uuid.UUID{}, ids(got)...), "in the order Fetch serves")
			})
		}
	})

	t.Run("FetchWithNothingReturnsNoJobsAndNoError", func(t *testing.T) {
		require.Empty(t, fetch(t, newStore(t), 10, "default", "other"))
	})

	t.Run("FetchServesQueuesInOrderGiven", func(t *testing.T) {
		s := newStore(t)
		low, high := newJob(t, inQueue("low")), newJob(t, inQueue("high"))
		create(t, s, low)
		create(t, s, high)
		got := fetch(t, s, 1, "high", "low")
		require.Equal(t, []uuid.UUID{high.ID}, ids(got))
		got = fetch(t, s, 5, "high", "low")
		require.Equal(t, []uuid.UUID{low.ID}, ids(got))
	})

	t.Run("FetchTakesHigherPriorityThenFirstEnqueued", func(t *testing.T) {
		s := newStore(t)
		var jobs []*storage.Job
		for _, p := range []int{0, 5, 0, 5, -1} {
			j := newJob(t, priority(p))
			create(t, s, j) // one at a time: creation order is enqueue order
			jobs = append(jobs, j)
		}
		got := ids(fetch(t, s, 5))
		require.Equal(t, []uuid.UUID{jobs[1].ID, jobs[3].ID, jobs[0].ID, jobs[2].ID, jobs[4].ID}, got)
	})

	t.Run("FetchOrdersByTimeEnqueuedNotCreated", func(t *testing.T) {
		s := newStore(t)
		a, b := newJob(t), newJob(t, scheduledAt(base))
		create(t, s, a, b)
		c := newJob(t)
		create(t, s, c)
		require.Equal(t, []uuid.UUID{a.ID}, ids(fetch(t, s, 1)))
		require.Equal(t, []error{nil}, transition(t, s, false, requeue(a.ID, states.NameProcessing)))
		r, err := s.PromoteDue(ctx(t), &storage.PromoteParams{Now: base, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, 1, r.Promoted)
		require.Equal(t, []uuid.UUID{c.ID, a.ID, b.ID}, ids(fetch(t, s, 3)), "requeued and promoted jobs go to the back")
	})

	t.Run("FetchReturnsAtMostLimit", func(t *testing.T) {
		s := newStore(t)
		for range 7 {
			create(t, s, newJob(t))
		}
		require.Len(t, fetch(t, s, 3), 3)
		require.Len(t, fetch(t, s, 10), 4)
	})

	t.Run("FetchIgnoresOtherQueuesAndScheduledJobs", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t, inQueue("other")), newJob(t, scheduledAt(base.Add(time.Hour))))
		require.Empty(t, fetch(t, s, 10))
	})

	t.Run("ConcurrentFetchersNeverLeaseOneJobTwice", func(t *testing.T) {
		s := newStore(t)
		const n = 600
		jobs := make([]*storage.Job, n)
		for i := range jobs {
			jobs[i] = newJob(t)
		}
		create(t, s, jobs...)
		var (
			mu   sync.Mutex
			seen = map[uuid.UUID]int{}
			wg   sync.WaitGroup
		)
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := s.Fetch(ctx(t), &storage.FetchParams{Queues: []string{"default"}, Limit: 7, Owner: owner, LeaseFor: time.Minute, Now: base})
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, j := range got {
						seen[j.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		require.Len(t, seen, n)
		for id, c := range seen {
			require.Equal(t, 1, c, "job %s leased %d times", id, c)
		}
	})

	t.Run("FetchTokensGrowEachLease", func(t *testing.T) {
		s := newStore(t)
		j := newJob(t)
		create(t, s, j)
		first := fetch(t, s, 1)[0]
		require.Equal(t, []error{nil}, transition(t, s, false, requeue(j.ID, states.NameProcessing)))
		second := fetch(t, s, 1)[0]
		require.Greater(t, second.LeaseToken, first.LeaseToken)
		require.Equal(t, 2, second.Attempt)
	})
}
