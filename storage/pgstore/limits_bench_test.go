package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/flowstress"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// createPartitioned creates n Enqueued jobs spread over parts partitions
// (none when parts is 0), in calls of 5,000.
func createPartitioned(b testing.TB, s *Store, n, parts int, prefix string) {
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

// serverCPU returns the CPU time that the server processes of s's pool (by
// its application_name) have used so far, read from /proc: a server on
// this machine. Connections that close meanwhile take theirs with them,
// so it is read while the pool is in use.
func serverCPU(b testing.TB, s *Store) time.Duration {
	rows, err := s.pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = current_setting('application_name')`)
	require.NoError(b, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(b, err)
	var total time.Duration
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // another machine's server, or gone
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:])) // fields from the third on
		for _, v := range f[11:13] {                                         // utime and stime, in ticks of 1/100 s
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(b, err)
			total += time.Duration(n) * 10 * time.Millisecond
		}
	}
	return total
}

// complete makes fetched jobs Succeeded in one call.
func complete(b testing.TB, s *Store, jobs []*storage.Job) {
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
// as BenchmarkBurnDown does, with flow control. Two fetchers of 500:
// "none" has no partition and no limit (the plain fetch);
// "queue-never-binding" the same jobs under a queue limit that never binds
// (1,000,000 running); "partitions" spreads the jobs over 1,000
// partitions without a limit; "never-binding" the same under a partition
// limit that never binds. Four fetchers of 25, as 100 workers of one slot
// would: "none-batch-25" (no partitions), "partitions-batch-25" (1,000
// partitions, no limit) and "binding" (each of the 1,000 partitions held
// to 2 running). One op is one job; server-µs/job is the CPU of the
// server processes serving the store (a server on this machine).
func BenchmarkFlowBurnDown(b *testing.B) {
	for _, c := range []struct {
		name     string
		parts    int
		limit    storage.Limit
		fetchers int
		batch    int
	}{
		{"none", 0, storage.Limit{}, 2, 500},
		{"queue-never-binding", 0, storage.Limit{Scope: storage.ScopeQueue, Name: "default", Concurrency: 1_000_000}, 2, 500},
		{"partitions", 1000, storage.Limit{}, 2, 500},
		{"never-binding", 1000, storage.Limit{Scope: storage.ScopePartition, Name: "t", Concurrency: 1_000_000}, 2, 500},
		{"none-batch-25", 0, storage.Limit{}, 4, 25},
		{"partitions-batch-25", 1000, storage.Limit{}, 4, 25},
		{"binding", 1000, storage.Limit{Scope: storage.ScopePartition, Name: "t", Concurrency: 2}, 4, 25},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			createPartitioned(b, s, b.N, c.parts, "p")
			if !c.limit.IsZero() {
				require.NoError(b, s.SetLimits(ctx, []storage.Limit{c.limit}))
			}
			analyze(ctx, b, s)
			cpu := serverCPU(b, s)
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
			b.ReportMetric(float64((serverCPU(b, s)-cpu).Microseconds())/float64(b.N), "server-µs/job")
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
	analyze(ctx, b, s)
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

// BenchmarkFlowWorkers measures flow control at the worker level
// (flowstress.Workers: one worker at the default settings, 100 slots, b.N
// jobs of a task that returns at once, in the cases of
// flowstress.WorkerCases). One op is one job, server-µs/job as in
// BenchmarkFlowBurnDown.
func BenchmarkFlowWorkers(b *testing.B) {
	for _, c := range flowstress.WorkerCases {
		b.Run(c.Name, func(b *testing.B) {
			s := newStore(b)
			flowstress.Workers(b, s, c, func() { analyze(context.Background(), b, s) }, func() func() {
				cpu := serverCPU(b, s)
				return func() {
					b.ReportMetric(float64((serverCPU(b, s)-cpu).Microseconds())/float64(b.N), "server-µs/job")
				}
			})
		})
	}
}
