package pgstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func createJobs(b *testing.B, s *Store, n int) {
	jobs := make([]*storage.Job, n)
	for i := range jobs {
		jobs[i] = enqueuedJob(b)
	}
	require.NoError(b, create(context.Background(), s, jobs...))
}

// BenchmarkCreate measures bulk Create; one op is one job.
func BenchmarkCreate(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := newStore(b)
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				createJobs(b, s, min(batch, b.N-done))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkBurnDown measures fetch and complete at the storage level: b.N
// jobs are created (untimed, then ANALYZEd while all are Enqueued, the
// statistics that once misled completion plans), then two fetchers lease
// batches and complete each batch with one Transition call.
func BenchmarkBurnDown(b *testing.B) {
	for _, batch := range []int{500, 1000, 2000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			for done := 0; done < b.N; done += 5000 {
				createJobs(b, s, min(5000, b.N-done))
			}
			_, err := s.pool.Exec(ctx, "ANALYZE "+s.cfg.schema+".jobs")
			require.NoError(b, err)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					for {
						jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: batch, Owner: "bench", LeaseFor: time.Minute})
						if err != nil || len(jobs) == 0 {
							require.NoError(b, err)
							return
						}
						ts := make([]storage.Transition, len(jobs))
						for i, j := range jobs {
							data, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
							ts[i] = storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken,
								To: states.NameSucceeded, Data: data, ExpireAt: time.Now().Add(24 * time.Hour)}
						}
						errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
						require.NoError(b, err)
						for _, e := range errs {
							require.NoError(b, e)
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}
