package pgstore

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// fill inserts n jobs in state st straight into s's table, as a large
// store would have them.
func fill(t *testing.T, s *Store, st states.Name, n int) {
	t.Helper()
	_, err := s.pool.Exec(testCtx(t), fmt.Sprintf(`INSERT INTO %s.jobs (id, task, args, queue, state, created_at, updated_at)
		SELECT gen_random_uuid(), 'bulk', '\x7b7d', 'default', $1, now(), now() FROM generate_series(1, $2)`,
		pgx.Identifier{s.cfg.schema}.Sanitize()), string(st), n)
	require.NoError(t, err)
}

func TestEstimateCount(t *testing.T) {
	tests := []struct {
		name      string
		succeeded int
		analyze   bool
		// estimated names the states expected to be estimates.
		estimated []states.Name
	}{
		{"small store: every count exact", 500, true, nil},
		{"large store never analyzed: exact", exactBelow + 5_000, false, nil},
		{"large store: succeeded and deleted estimated", exactBelow + 5_000, true, []states.Name{states.NameSucceeded, states.NameDeleted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			fill(t, s, states.NameSucceeded, tt.succeeded)
			fill(t, s, states.NameFailed, 3)
			fill(t, s, states.NameEnqueued, 7)
			if tt.analyze {
				_, err := s.pool.Exec(testCtx(t), "ANALYZE "+pgx.Identifier{s.cfg.schema}.Sanitize()+".jobs")
				require.NoError(t, err)
			}
			counts, exact, err := s.EstimateCount(testCtx(t))
			require.NoError(t, err)
			for _, st := range states.Names {
				require.Equal(t, !contains(tt.estimated, st), contains(exact, st), "is %s exact", st)
			}
			require.Equal(t, int64(3), counts[states.NameFailed], "failed jobs are counted exactly")
			require.Equal(t, int64(7), counts[states.NameEnqueued])
			require.InEpsilon(t, tt.succeeded, counts[states.NameSucceeded], 0.1)
		})
	}
}

func contains(names []states.Name, n states.Name) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

// TestListUsesTheStatesIndex checks that listing a rare state among many
// finished jobs reads its partial index, not every job.
func TestListUsesTheStatesIndex(t *testing.T) {
	s := newStore(t)
	fill(t, s, states.NameSucceeded, 50_000)
	fill(t, s, states.NameFailed, 5)
	_, err := s.pool.Exec(testCtx(t), "ANALYZE "+pgx.Identifier{s.cfg.schema}.Sanitize()+".jobs")
	require.NoError(t, err)
	for _, p := range []storage.ListParams{
		{State: states.NameFailed, Limit: 20},
		{State: states.NameFailed, Queue: "default", Task: "bulk", Offset: 2, Limit: 2},
	} {
		jobs, err := s.List(testCtx(t), &p)
		require.NoError(t, err)
		require.Len(t, jobs, min(p.Limit, 5-p.Offset))
		var plan string
		require.NoError(t, s.pool.QueryRow(testCtx(t), "EXPLAIN (FORMAT JSON) "+fmt.Sprintf(s.q.list, "state = 'failed'", "id", 1, 2), 0, 20).Scan(&plan))
		require.Contains(t, plan, "jobs_failed", "plan of a failed jobs' page: %s", plan)
	}
}
