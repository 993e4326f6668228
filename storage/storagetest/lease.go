package storagetest

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func reclaim(t *testing.T, s storage.Store, now time.Time) int {
	t.Helper()
	n, err := s.ReclaimExpired(ctx(t), &storage.ReclaimParams{Now: now, Limit: 1000})
	require.NoError(t, err)
	return n
}

func testLease(t *testing.T, newStore NewStore) {
	t.Run("ValidLeaseIsNotReclaimed", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t))
		fetch(t, s, 1)
		require.Equal(t, 0, reclaim(t, s, base.Add(59*time.Second)))
	})

	t.Run("ExpiredLeaseMakesJobFetchableAgainAndOldTokenStale", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t))
		first := fetch(t, s, 1)[0]
		require.Equal(t, 1, reclaim(t, s, base.Add(61*time.Second)))
		got := get(t, s, first.ID)
		require.Equal(t, states.NameEnqueued, got.State)
		require.Equal(t, []states.Name{states.NameEnqueued, states.NameProcessing, states.NameEnqueued}, historyNames(got))

		errs := transition(t, s, false, succeed(first.ID, first.LeaseToken))
		require.ErrorIs(t, errs[0], storage.ErrLeaseLost, "stale token completed a reclaimed job")

		second := fetch(t, s, 1)
		require.Len(t, second, 1)
		require.Greater(t, second[0].LeaseToken, first.LeaseToken)
		errs = transition(t, s, false, succeed(first.ID, first.LeaseToken))
		require.ErrorIs(t, errs[0], storage.ErrLeaseLost, "stale token completed a job another worker holds")
		require.Equal(t, []error{nil}, transition(t, s, false, succeed(second[0].ID, second[0].LeaseToken)))
	})

	t.Run("ExtendLeasesKeepsJobsAndReportsLost", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t), newJob(t))
		f := fetch(t, s, 2)
		require.Len(t, f, 2)
		bogus := uuid.Must(uuid.NewV7())
		lost, err := s.ExtendLeases(ctx(t), &storage.ExtendParams{
			Owner: owner,
			Jobs:  map[uuid.UUID]int64{f[0].ID: f[0].LeaseToken, f[1].ID: f[1].LeaseToken + 1, bogus: 1},
			Until: base.Add(10 * time.Minute),
		})
		require.NoError(t, err)
		require.ElementsMatch(t, []storage.LostLease{{ID: f[1].ID, State: states.NameProcessing}, {ID: bogus}}, lost,
			"a job held under another token is lost and Processing; a missing one has no state")
		require.True(t, base.Add(10*time.Minute).Equal(get(t, s, f[0].ID).LeaseUntil))
		require.Equal(t, 1, reclaim(t, s, base.Add(5*time.Minute)), "only the job whose lease was not extended expires")
		require.Equal(t, states.NameProcessing, get(t, s, f[0].ID).State)
	})

	t.Run("ExtendLeasesWithZeroUntilOnlyChecks", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t), newJob(t))
		f := fetch(t, s, 2)
		require.Len(t, f, 2)
		require.Equal(t, []error{nil}, transition(t, s, false, requeue(f[1].ID, states.NameProcessing)))
		lost, err := s.ExtendLeases(ctx(t), &storage.ExtendParams{Owner: owner, Jobs: map[uuid.UUID]int64{f[0].ID: f[0].LeaseToken, f[1].ID: f[1].LeaseToken}})
		require.NoError(t, err)
		require.Equal(t, []storage.LostLease{{ID: f[1].ID, State: states.NameEnqueued}}, lost)
		require.True(t, f[0].LeaseUntil.Equal(get(t, s, f[0].ID).LeaseUntil), "a check moved the lease")
	})

	t.Run("ExtendLeasesOfAnotherOwnerIsLost", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t))
		f := fetch(t, s, 1)[0]
		lost, err := s.ExtendLeases(ctx(t), &storage.ExtendParams{Owner: "server-b", Jobs: map[uuid.UUID]int64{f.ID: f.LeaseToken}, Until: base.Add(time.Hour)})
		require.NoError(t, err)
		require.Equal(t, []storage.LostLease{{ID: f.ID, State: states.NameProcessing}}, lost)
	})

	// A worker tells a running attempt why its job was taken from it by the
	// state the lost lease reports.
	t.Run("ExtendLeasesReportsTheStateALostJobIsIn", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t), newJob(t), newJob(t))
		f := fetch(t, s, 3)
		require.Len(t, f, 3)
		del := storage.Transition{ID: f[1].ID, To: states.NameDeleted, Data: mustMarshal(states.Deleted{DeletedAt: base})}
		sched := storage.Transition{ID: f[2].ID, To: states.NameScheduled, RunAt: base.Add(time.Hour),
			Data: mustMarshal(states.Scheduled{EnqueueAt: base.Add(time.Hour), ScheduledAt: base})}
		require.Equal(t, []error{nil, nil}, transition(t, s, false, del, sched))
		for _, until := range []time.Time{{}, base.Add(time.Hour)} {
			held := map[uuid.UUID]int64{}
			for _, j := range f {
				held[j.ID] = j.LeaseToken
			}
			lost, err := s.ExtendLeases(ctx(t), &storage.ExtendParams{Owner: owner, Jobs: held, Until: until})
			require.NoError(t, err)
			require.ElementsMatch(t, []storage.LostLease{{ID: f[1].ID, State: states.NameDeleted}, {ID: f[2].ID, State: states.NameScheduled}}, lost)
		}
	})
}
