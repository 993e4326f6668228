package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/storagetest"
)

// serverCPU returns the CPU time the Redis server has used.
func serverCPU(b *testing.B, c redis.UniversalClient) time.Duration {
	info, err := c.Info(context.Background(), "cpu").Result()
	require.NoError(b, err)
	var total time.Duration
	for _, line := range strings.Split(info, "\n") {
		name, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if name == "used_cpu_sys" || name == "used_cpu_user" {
			s, err := strconv.ParseFloat(v, 64)
			require.NoError(b, err)
			total += time.Duration(s * float64(time.Second))
		}
	}
	return total
}

// BenchmarkStorePaths measures each hot path at the storage level, in
// batches, and reports the Redis server's CPU time per job: a figure that
// holds better than wall time on a shared machine. One op is one job.
func BenchmarkStorePaths(b *testing.B) {
	const batch = 500
	client := testClient(b)
	ctx := context.Background()
	newJobs := func(n int) []*storage.Job {
		jobs := make([]*storage.Job, n)
		for i := range jobs {
			jobs[i] = enqueuedJob(b)
		}
		return jobs
	}
	fetch := func(s *Store, n int) []*storage.Job {
		jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "bench-worker-1", LeaseFor: time.Minute})
		require.NoError(b, err)
		return jobs
	}
	complete := func(s *Store, jobs []*storage.Job) {
		data, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now(), Result: []byte(`{}`), Latency: time.Second, Duration: time.Millisecond})
		ts := make([]storage.Transition, len(jobs))
		for i, j := range jobs {
			ts[i] = storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken,
				To: states.NameSucceeded, Data: data, ExpireAt: time.Now().Add(24 * time.Hour)}
		}
		errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
		require.NoError(b, err)
		for _, e := range errs {
			require.NoError(b, e)
		}
	}
	create := func(s *Store, n int) {
		for done := 0; done < n; done += batch {
			_, err := s.Create(ctx, &storage.CreateParams{Jobs: newJobs(min(batch, n-done))})
			require.NoError(b, err)
		}
	}
	run := func(b *testing.B, setup func(s *Store), op func(s *Store)) {
		s := newStore(b, client)
		setup(s)
		cpu := serverCPU(b, client)
		b.ResetTimer()
		op(s)
		b.StopTimer()
		b.ReportMetric(float64((serverCPU(b, client)-cpu).Microseconds())/float64(b.N), "redis-µs/job")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	}
	b.Run("Create", func(b *testing.B) {
		run(b, func(*Store) {}, func(s *Store) { create(s, b.N) })
	})
	b.Run("Fetch", func(b *testing.B) {
		run(b, func(s *Store) { create(s, b.N) }, func(s *Store) {
			for len(fetch(s, batch)) > 0 {
			}
		})
	})
	b.Run("Complete", func(b *testing.B) {
		var leased [][]*storage.Job
		run(b, func(s *Store) {
			create(s, b.N)
			for jobs := fetch(s, batch); len(jobs) > 0; jobs = fetch(s, batch) {
				leased = append(leased, jobs)
			}
		}, func(s *Store) {
			for _, jobs := range leased {
				complete(s, jobs)
			}
		})
	})
	b.Run(fmt.Sprintf("Extend%d", batch), func(b *testing.B) {
		run(b, func(s *Store) { create(s, batch) }, func(s *Store) {
			jobs := fetch(s, batch)
			p := &storage.ExtendParams{Owner: "bench-worker-1", Until: time.Now().Add(time.Minute)}
			p.Jobs = make(map[uuid.UUID]int64, len(jobs))
			for _, j := range jobs {
				p.Jobs[j.ID] = j.LeaseToken
			}
			for i := 0; i < b.N; i += len(jobs) {
				_, err := s.ExtendLeases(ctx, p)
				require.NoError(b, err)
			}
		})
	})
}

func BenchmarkContinuations(b *testing.B) {
	client := testClient(b)
	storagetest.BenchmarkContinuations(b, func(b *testing.B) storage.Store { return newStore(b, client) })
}
