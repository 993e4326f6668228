package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func testSchedule(t *testing.T, newStore NewStore) {
	promote := func(t *testing.T, s storage.Store, now time.Time, limit int) storage.PromoteResult {
		t.Helper()
		r, err := s.PromoteDue(ctx(t), &storage.PromoteParams{Now: now, Limit: limit})
		require.NoError(t, err)
		return r
	}

	t.Run("PromoteDueMovesOnlyDueJobsAndReportsNext", func(t *testing.T) {
		s := newStore(t)
		soon, later := newJob(t, scheduledAt(base.Add(time.Second))), newJob(t, scheduledAt(base.Add(time.Hour)))
		create(t, s, soon, later)

		r := promote(t, s, base, 100)
		require.Zero(t, r.Promoted)
		require.True(t, base.Add(time.Second).Equal(r.Next), "next %v", r.Next)

		r = promote(t, s, base.Add(2*time.Second), 100)
		require.Equal(t, 1, r.Promoted)
		require.True(t, base.Add(time.Hour).Equal(r.Next), "next %v", r.Next)

		got := get(t, s, soon.ID)
		require.Equal(t, []states.Name{states.NameScheduled, states.NameEnqueued}, historyNames(got))
		require.Equal(t, []string{soon.ID.String()}, idStrings(fetch(t, s, 10)))
	})

	t.Run("PromoteDueHonoursLimit", func(t *testing.T) {
		s := newStore(t)
		for range 5 {
			create(t, s, newJob(t, scheduledAt(base)))
		}
		require.Equal(t, 3, promote(t, s, base, 3).Promoted)
		r := promote(t, s, base, 3)
		require.Equal(t, 2, r.Promoted)
		require.True(t, r.Next.IsZero())
	})

	t.Run("RetryScheduledByTransitionIsPromoted", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t))
		f := fetch(t, s, 1)[0]
		at := base.Add(30 * time.Second)
		require.Equal(t, []error{nil}, transition(t, s, false, storage.Transition{
			ID: f.ID, Token: f.LeaseToken, To: states.NameScheduled, RunAt: at,
			Data: mustMarshal(states.Scheduled{EnqueueAt: at, ScheduledAt: base}),
		}))
		require.Zero(t, promote(t, s, base.Add(29*time.Second), 10).Promoted)
		require.Equal(t, 1, promote(t, s, at, 10).Promoted)
		require.Len(t, fetch(t, s, 1), 1)
	})
}

func idStrings(jobs []*storage.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID.String()
	}
	return out
}
