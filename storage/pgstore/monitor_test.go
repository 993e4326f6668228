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
func fill(t *testing.T, s *Store, st states.Name, n int) { fillQueue(t, s, "default", st, n) }

// fillQueue is fill for the queue queue.
func fillQueue(t *testing.T, s *Store, queue string, st states.Name, n int) {
	t.Helper()
	_, err := s.pool.Exec(testCtx(t), fmt.Sprintf(`INSERT INTO %s.jobs (id, task, args, queue, state, created_at, updated_at)
		SELECT gen_random_uuid(), 'bulk', '\x7b7d', $3, $1, now(), now() FROM generate_series(1, $2)`,
		pgx.Identifier{s.cfg.schema}.Sanitize()), string(st), n, queue)
	require.NoError(t, err)
}

func TestEstimateCount(t *testing.T) {
	// Every store holds, besides tt.succeeded succeeded jobs of "default",
	// in "default" 7 enqueued jobs, and in "mail" 20,000 succeeded, 3
	// failed and 2 deleted.
	tests := []struct {
		name      string
		succeeded int
		analyze   bool
		queue     string
		// estimated names the states expected to be estimates.
		estimated []states.Name
		want      map[states.Name]int64 // exact counts
		wantAbout int                   // succeeded, within 10%
	}{
		{"small store: every count exact", 500, true, "",
			nil, map[states.Name]int64{states.NameFailed: 3, states.NameEnqueued: 7, states.NameDeleted: 2}, 20_500},
		{"small store, one queue: exact", 500, true, "mail",
			nil, map[states.Name]int64{states.NameFailed: 3, states.NameEnqueued: 0, states.NameDeleted: 2}, 20_000},
		{"large store never analyzed: exact", exactBelow + 5_000, false, "",
			nil, map[states.Name]int64{states.NameFailed: 3, states.NameEnqueued: 7, states.NameDeleted: 2}, exactBelow + 25_000},
		{"large store: succeeded and deleted estimated", exactBelow + 5_000, true, "",
			[]states.Name{states.NameSucceeded, states.NameDeleted}, map[states.Name]int64{states.NameFailed: 3, states.NameEnqueued: 7}, exactBelow + 25_000},
		{"large store, one queue: its succeeded and deleted estimated", exactBelow + 5_000, true, "mail",
			[]states.Name{states.NameSucceeded, states.NameDeleted}, map[states.Name]int64{states.NameFailed: 3, states.NameEnqueued: 0}, 20_000},
		{"large store, the other queue", exactBelow + 5_000, true, "default",
			[]states.Name{states.NameSucceeded, states.NameDeleted}, map[states.Name]int64{states.NameFailed: 0, states.NameEnqueued: 7}, exactBelow + 5_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			fill(t, s, states.NameSucceeded, tt.succeeded)
			fill(t, s, states.NameEnqueued, 7)
			fillQueue(t, s, "mail", states.NameSucceeded, 20_000)
			fillQueue(t, s, "mail", states.NameFailed, 3)
			fillQueue(t, s, "mail", states.NameDeleted, 2)
			if tt.analyze {
				_, err := s.pool.Exec(testCtx(t), "ANALYZE "+pgx.Identifier{s.cfg.schema}.Sanitize()+".jobs")
				require.NoError(t, err)
			}
			counts, exact, err := s.EstimateCount(testCtx(t), tt.queue)
			require.NoError(t, err)
			for _, st := range states.Names {
				require.Equal(t, !contains(tt.estimated, st), contains(exact, st), "is %s exact", st)
			}
			for st, n := range tt.want {
				require.Equal(t, n, counts[st], "%s jobs are counted exactly", st)
			}
			require.InEpsilon(t, tt.wantAbout, counts[states.NameSucceeded], 0.1)
		})
	}
}

// TestEstimateCountOfAQueueWithFewOfAState: a state with an index that
// the table holds too many of to count is counted exactly in a queue that
// holds few of them.
func TestEstimateCountOfAQueueWithFewOfAState(t *testing.T) {
	s := newStore(t)
	fillQueue(t, s, "bulk", states.NameEnqueued, exactBelow+5_000)
	fillQueue(t, s, "mail", states.NameEnqueued, 4)
	_, err := s.pool.Exec(testCtx(t), "ANALYZE "+pgx.Identifier{s.cfg.schema}.Sanitize()+".jobs")
	require.NoError(t, err)
	tests := []struct {
		queue     string
		want      int64
		estimated bool
	}{
		{"mail", 4, false},
		{"bulk", exactBelow + 5_000, true},
		{"", exactBelow + 5_004, true},
	}
	for _, tt := range tests {
		counts, exact, err := s.EstimateCount(testCtx(t), tt.queue)
		require.NoError(t, err)
		require.Equal(t, tt.estimated, !contains(exact, states.NameEnqueued), "queue %q: enqueued estimated", tt.queue)
		if tt.estimated {
			require.InEpsilon(t, tt.want, counts[states.NameEnqueued], 0.1, "queue %q", tt.queue)
		} else {
			require.Equal(t, tt.want, counts[states.NameEnqueued], "queue %q", tt.queue)
		}
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
		require.Contains(t, listPlan(t, s, &p), "jobs_failed", "plan of a failed jobs' page")
		p.Cursor = jobs[len(jobs)-1].Cursor
		require.Contains(t, listPlan(t, s, &p), "jobs_failed", "plan of the next page")
	}
}

// listPlan returns the plan of List's query of p, as JSON.
func listPlan(t *testing.T, s *Store, p *storage.ListParams) string {
	t.Helper()
	sql, args, err := s.listQuery(p, true)
	require.NoError(t, err)
	var plan string
	require.NoError(t, s.pool.QueryRow(testCtx(t), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&plan))
	return plan
}
