package sqlitestore

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// The pruner deletes the GCRA times past by storage.RateTimeKept, and only those: a
// partition rate limit leaves one per partition, which would stay for ever.
func TestPrunerDeletesPastRateTimes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Now()
	require.NoError(t, s.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Rate: 1, Period: time.Minute}}))
	data, err := states.Marshal(states.Enqueued{Queue: "default"})
	require.NoError(t, err)
	for _, p := range []string{"a", "b", "c"} {
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{{ID: uuid.Must(uuid.NewV7()), Task: "t", Queue: "default",
			State: states.NameEnqueued, StateData: data, Partition: p}}})
		require.NoError(t, err)
	}
	jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Hour, Now: now})
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	times := func() (n int) {
		require.NoError(t, s.read(ctx, func(conn querier) error {
			return conn.QueryRowContext(ctx, "SELECT count(*) FROM limit_rates").Scan(&n)
		}))
		return n
	}
	require.Equal(t, 3, times())
	_, err = s.DeleteExpired(ctx, &storage.PruneParams{Now: now.Add(30 * time.Second), Limit: 100})
	require.NoError(t, err)
	require.Equal(t, 3, times(), "times not yet past by RateTimeKept were deleted")
	_, err = s.DeleteExpired(ctx, &storage.PruneParams{Now: now.Add(time.Minute + storage.RateTimeKept), Limit: 100})
	require.NoError(t, err)
	require.Zero(t, times(), "past times were kept")
}
