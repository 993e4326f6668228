package redisstore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// createPartitioned creates n Enqueued jobs spread over parts partitions
// (none when parts is 0), in calls of 500.
func createPartitioned(b *testing.B, s *Store, n, parts int) {
	for done := 0; done < n; done += 500 {
		jobs := make([]*storage.Job, min(500, n-done))
		for i := range jobs {
			jobs[i] = enqueuedJob(b, func(j *storage.Job) {
				if parts > 0 {
					j.Partition = strconv.Itoa((done + i) % parts)
				}
			})
		}
		_, err := s.Create(context.Background(), &storage.CreateParams{Jobs: jobs})
		require.NoError(b, err)
	}
}

// BenchmarkFlowControl measures fetching and completing jobs (batches of
// 100) with no limit, under limits that never bind, and under a binding
// limit of 2 per partition over 1,000 partitions, reporting the Redis
// server's CPU time and the jobs done per second. One op is one job.
func BenchmarkFlowControl(b *testing.B) {
	const batch = 100
	client := testClient(b)
	ctx := context.Background()
	never := 1 << 30
	tests := []struct {
		name       string
		partitions int
		limits     []storage.Limit
	}{
		{"NoLimit", 0, nil},
		{"QueueLimitNeverBinds", 0, []storage.Limit{{Scope: storage.ScopeQueue, Name: "default", Concurrency: never}}},
		{"Partitions", 1000, nil},
		{"PartitionLimitNeverBinds", 1000, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Concurrency: never}}},
		{"PartitionLimit2Binds", 1000, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Concurrency: 2}}},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			s := newStore(b, client)
			if tc.limits != nil {
				require.NoError(b, s.SetLimits(ctx, tc.limits))
			}
			createPartitioned(b, s, b.N, tc.partitions)
			data, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now(), Result: []byte(`{}`)})
			cpu := serverCPU(b, client)
			b.ResetTimer()
			for n := 0; n < b.N; {
				jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: batch, Owner: "bench", LeaseFor: time.Minute})
				require.NoError(b, err)
				require.NotEmpty(b, jobs)
				ts := make([]storage.Transition, len(jobs))
				for i, j := range jobs {
					ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: data}
				}
				_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
				require.NoError(b, err)
				n += len(jobs)
			}
			b.StopTimer()
			b.ReportMetric(float64((serverCPU(b, client)-cpu).Microseconds())/float64(b.N), "redis-µs/job")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkFlowCreate creates the jobs BenchmarkFlowControl's cases start
// from (plain, and over 1,000 partitions), and nothing more: what its
// cases cost beyond fetching and completing. One op is one job.
func BenchmarkFlowCreate(b *testing.B) {
	client := testClient(b)
	for _, tc := range []struct {
		name       string
		partitions int
	}{{"Plain", 0}, {"Partitions", 1000}} {
		b.Run(tc.name, func(b *testing.B) {
			createPartitioned(b, newStore(b, client), b.N, tc.partitions)
		})
	}
}
