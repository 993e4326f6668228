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
	"github.com/taskflow-go/taskflow/storage/storagetest"
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

// BenchmarkChurn measures how the jobs table's primary key and the
// history's grow under churn, the schema vacuumed as autovacuum would (the
// development server runs with it off). One op is one job through its
// life: created, fetched, finished, and, when Succeeded, pruned at once. Of
// every failEvery jobs one ends Failed and stays, as Failed jobs do until a
// person acts. It reports the bytes each index grows by per thousand jobs
// once past a warm-up, and the size of jobs_kept's primary key, where the
// pruner moves the Failed rows.
func BenchmarkChurn(b *testing.B) {
	const round, warmup, vacuumEvery = 1000, 5, 5
	for _, failEvery := range []int{0, 86} {
		b.Run(fmt.Sprintf("failEvery=%d", failEvery), func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			size := func(rel string) int64 {
				var n int64
				require.NoError(b, s.pool.QueryRow(ctx, `SELECT pg_relation_size($1::regclass)`, s.cfg.schema+"."+rel).Scan(&n))
				return n
			}
			vacuum := func() {
				_, err := s.pool.Exec(ctx, "VACUUM "+s.cfg.schema+".jobs, "+s.cfg.schema+".job_history, "+s.cfg.schema+".jobs_kept")
				require.NoError(b, err)
			}
			succeeded, err := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
			require.NoError(b, err)
			failed, err := states.Marshal(states.Failed{FailedAt: time.Now(), ErrorMessage: "x"})
			require.NoError(b, err)
			rounds := max(b.N/round, warmup+2*vacuumEvery)
			var pkey0, hist0 int64
			var kept int
			b.ResetTimer()
			for r := range rounds {
				createJobs(b, s, round)
				jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: round, Owner: "bench", LeaseFor: time.Minute})
				require.NoError(b, err)
				ts := make([]storage.Transition, len(jobs))
				for i, j := range jobs {
					ts[i] = storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken,
						To: states.NameSucceeded, Data: succeeded, ExpireAt: time.Now()}
					if failEvery > 0 && (r*round+i)%failEvery == 0 {
						ts[i].To, ts[i].Data, ts[i].ExpireAt = states.NameFailed, failed, time.Time{}
						kept++
					}
				}
				_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
				require.NoError(b, err)
				_, err = s.DeleteExpired(ctx, &storage.PruneParams{Now: time.Now().Add(time.Second), Limit: 10 * round})
				require.NoError(b, err)
				if r%vacuumEvery == vacuumEvery-1 {
					vacuum()
				}
				if r == warmup-1 {
					vacuum()
					pkey0, hist0 = size("jobs_pkey"), size("job_history_pkey")
				}
			}
			vacuum()
			per := float64(1000) / float64((rounds-warmup)*round)
			b.ReportMetric(float64(size("jobs_pkey")-pkey0)*per, "jobs_pkey-B/kjob")
			b.ReportMetric(float64(size("job_history_pkey")-hist0)*per, "history_pkey-B/kjob")
			b.ReportMetric(float64(size("jobs_pkey")), "jobs_pkey-B")
			b.ReportMetric(float64(kept), "failed-rows")
			b.ReportMetric(float64(size("jobs_kept_pkey")), "jobs_kept_pkey-B")
		})
	}
}

func BenchmarkContinuations(b *testing.B) {
	storagetest.BenchmarkContinuations(b, func(b *testing.B) storage.Store { return newStore(b) })
}
