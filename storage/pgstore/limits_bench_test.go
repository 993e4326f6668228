package pgstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// createPartitioned creates n Enqueued jobs spread over parts partitions
// (none when parts is 0), in calls of 5,000.
func createPartitioned(b *testing.B, s *Store, n, parts int, prefix string) {
	for done := 0; done < n; done += 5000 {
		jobs := make([]*storage.Job, min(5000, n-done))
		for i := range jobs {
			jobs[i] = enqueuedJob(b)
			if parts > 0 {
				jobs[i].Partition = fmt.Sprint(prefix, (done+i)%parts)
			}
		}
		require.NoError(b, create(context.Background(), s, jobs...))
	}
}

// complete makes fetched jobs Succeeded in one call.
func complete(b *testing.B, s *Store, jobs []*storage.Job) {
	data, err := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
	require.NoError(b, err)
	ts := make([]storage.Transition, len(jobs))
	for i, j := range jobs {
		ts[i] = storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken,
			To: states.NameSucceeded, Data: data, ExpireAt: time.Now().Add(24 * time.Hour)}
	}
	errs, err := s.Transition(context.Background(), &storage.TransitionParams{Transitions: ts})
	require.NoError(b, err)
	for _, e := range errs {
		require.NoError(b, e)
	}
}

// BenchmarkFlowBurnDown measures fetch and complete at the storage level,
// as BenchmarkBurnDown does, with flow control: "none" has no partition
// and no limit (the plain fetch); "never-binding" spreads the jobs over
// 1,000 partitions under a partition limit that never binds (1,000,000
// running each); "binding" holds each of the 1,000 partitions to 2
// running, with fetchers that take 25 jobs at a time as 100 workers of
// one slot would, four at once, against "none-batch-25" (the same
// fetchers, no partitions) and "unlimited-partitions" (the same
// partitions, no limit). One op is one job.
func BenchmarkFlowBurnDown(b *testing.B) {
	for _, c := range []struct {
		name         string
		parts, limit int
		fetchers     int
		batch        int
	}{
		{"none", 0, 0, 2, 500},
		{"none-batch-25", 0, 0, 4, 25},
		{"never-binding", 1000, 1_000_000, 2, 500},
		{"unlimited-partitions", 1000, 0, 4, 25},
		{"binding", 1000, 2, 4, 25},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			createPartitioned(b, s, b.N, c.parts, "p")
			if c.limit > 0 {
				require.NoError(b, s.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Concurrency: c.limit}}))
			}
			_, err := s.pool.Exec(ctx, "ANALYZE "+s.cfg.schema+".jobs")
			require.NoError(b, err)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range c.fetchers {
				wg.Go(func() {
					for {
						jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: c.batch, Owner: "bench", LeaseFor: time.Minute})
						require.NoError(b, err)
						if len(jobs) == 0 {
							if n, _ := s.Count(ctx, "default"); n[states.NameEnqueued] == 0 {
								return
							}
							continue // held back by the limit: others finish
						}
						complete(b, s, jobs)
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkIdlePartitionPickup measures how long a fetch takes to lease a
// job of an idle partition while 100,000 jobs of another partition wait,
// held back by its rate limit (spent). One op is one job created and
// fetched; p50 and p99 are of the fetch alone. The jobs table is vacuumed
// every 50 ops, untimed, as autovacuum would on a real server.
func BenchmarkIdlePartitionPickup(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	createPartitioned(b, s, 100_000, 1, "flooded")
	require.NoError(b, s.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Rate: 1, Period: time.Hour}}))
	_, err := s.pool.Exec(ctx, "ANALYZE "+s.cfg.schema+".jobs")
	require.NoError(b, err)
	first, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "bench", LeaseFor: time.Hour})
	require.NoError(b, err)
	require.Len(b, first, 1) // spends the flooded partition's rate
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		if i%50 == 49 { // as autovacuum would, which this machine's server runs without
			b.StopTimer()
			_, err := s.pool.Exec(ctx, "VACUUM "+s.cfg.schema+".jobs")
			require.NoError(b, err)
			b.StartTimer()
		}
		j := enqueuedJob(b)
		j.Partition = fmt.Sprint("idle-", i)
		require.NoError(b, create(ctx, s, j))
		start := time.Now()
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "bench", LeaseFor: time.Minute})
		took = append(took, time.Since(start))
		require.NoError(b, err)
		require.Len(b, got, 1)
		require.Equal(b, j.ID, got[0].ID)
		complete(b, s, got)
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
