package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// BenchmarkCountHeld measures CountHeld over 100,000 Enqueued jobs in
// 1,000 partitions of one queue, after a fetch has leased up to 2 jobs of
// each: "held", under a partition limit of 2, every partition full (98,000
// jobs held, one scan of the Enqueued jobs); "room", under a limit that
// never binds (the limits, rates and leased jobs read, no scan); and
// "count", the exact count of jobs per state that job counts read anyway.
// One op is one call.
func BenchmarkCountHeld(b *testing.B) {
	for _, c := range []struct {
		name  string
		limit int
	}{{"held", 2}, {"room", 1_000_000}, {"count", 2}} {
		b.Run(c.name, func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			createPartitioned(b, s, 100_000, 1000, "p")
			require.NoError(b, s.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Concurrency: c.limit}}))
			leased, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 2000, Owner: "w", LeaseFor: time.Hour})
			require.NoError(b, err)
			require.Len(b, leased, 2000)
			_, err = s.pool.Exec(ctx, "ANALYZE "+s.cfg.schema+".jobs")
			require.NoError(b, err)
			held, err := s.CountHeld(ctx)
			require.NoError(b, err)
			if c.limit == 2 {
				require.Equal(b, map[string]int64{"default": 98_000}, held)
			} else {
				require.Empty(b, held)
			}
			b.ResetTimer()
			for range b.N {
				if c.name == "count" {
					_, err = s.Count(ctx, "")
				} else {
					_, err = s.CountHeld(ctx)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
