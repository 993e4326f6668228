package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// BenchmarkCountHeld measures CountHeld over 100,000 Enqueued jobs, after
// a fetch leased 2,000 of them, reporting the Redis server's CPU time per
// call: "partitions-held", 1,000 partitions under a partition limit of 2,
// every one full (a count per partition); "partitions-room", the same
// under a limit that never binds; "plain-task-held", jobs without a
// partition key under a full task limit stored after the fetch, in a
// queue not served by partition (a read per job, the worst case). One op
// is one call.
func BenchmarkCountHeld(b *testing.B) {
	client := testClient(b)
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		partitions    int
		before, after []storage.Limit // stored before and after the fetch
		held          int64
	}{
		{"partitions-held", 1000, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Concurrency: 2}}, nil, 98_000},
		{"partitions-room", 1000, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Concurrency: 1 << 30}}, nil, 0},
		{"plain-task-held", 0, nil, []storage.Limit{{Scope: storage.ScopeTask, Name: "t", Concurrency: 2000}}, 98_000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := newStore(b, client)
			if tc.before != nil {
				require.NoError(b, s.SetLimits(ctx, tc.before))
			}
			createPartitioned(b, s, 100_000, tc.partitions)
			leased, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 2000, Owner: "bench", LeaseFor: time.Hour})
			require.NoError(b, err)
			require.Len(b, leased, 2000)
			if tc.after != nil {
				require.NoError(b, s.SetLimits(ctx, tc.after))
			}
			held, err := s.CountHeld(ctx)
			require.NoError(b, err)
			require.Equal(b, tc.held, held["default"])
			cpu := serverCPU(b, client)
			b.ResetTimer()
			for range b.N {
				if _, err := s.CountHeld(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((serverCPU(b, client)-cpu).Microseconds())/float64(b.N), "redis-µs/call")
		})
	}
}
