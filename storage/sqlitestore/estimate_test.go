package sqlitestore

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
)

// TestEstimateCountOfALargeFile: above exactBelow jobs, the states with a
// partial index are counted exactly and succeeded and deleted estimated,
// close to their counts, for every queue and for one.
func TestEstimateCountOfALargeFile(t *testing.T) {
	const jobs = exactBelow * 6 / 5
	s := newStore(t)
	db, err := sql.Open("sqlite3", "file:"+s.Path()+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	// Per hundred jobs: 80 succeeded, 10 deleted, 5 enqueued, 3 failed, 2 scheduled; queues a and b alternate.
	// No deadline: under the race detector the insert takes over 30 s. The
	// IDs are the rows' numbers shuffled by a fixed permutation, so that the
	// estimate's sample is the same in every run.
	_, err = db.ExecContext(context.Background(), `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO jobs (id, task, args, queue, state, run_at, created_at, updated_at, seq)
SELECT unhex(printf('%08x', (i * 2654435761) % 4294967296) || '000000000000000000000000'), 't', x'7b7d', CASE i % 2 WHEN 0 THEN 'a' ELSE 'b' END, st, CASE WHEN st = 'scheduled' THEN i END, 0, 0,
	CASE WHEN st = 'enqueued' THEN i END
FROM (SELECT i, CASE WHEN i % 100 < 80 THEN 'succeeded' WHEN i % 100 < 90 THEN 'deleted' WHEN i % 100 < 95 THEN 'enqueued'
	WHEN i % 100 < 98 THEN 'failed' ELSE 'scheduled' END AS st FROM n)`, jobs)
	require.NoError(t, err)
	for _, tt := range []struct {
		queue string
		share int64 // the jobs of the queue, of every job
	}{{"", 1}, {"a", 2}} {
		counts, exact, err := s.EstimateCount(testCtx(t), tt.queue)
		require.NoError(t, err)
		real, err := s.Count(testCtx(t), tt.queue)
		require.NoError(t, err)
		require.ElementsMatch(t, indexedStates, exact, "queue %q", tt.queue)
		for _, st := range states.Names {
			if st == states.NameSucceeded || st == states.NameDeleted {
				require.InDelta(t, real[st], counts[st], float64(jobs/tt.share)*0.02, "%s of queue %q: an estimate within 2%% of the jobs", st, tt.queue)
			} else {
				require.Equal(t, real[st], counts[st], "%s of queue %q", st, tt.queue)
			}
		}
	}
}
