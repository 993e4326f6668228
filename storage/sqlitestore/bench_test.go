package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/storagetest"
)

// jobs returns n new Enqueued jobs sharing their state data, as one
// EnqueueMany makes them.
func jobs(n int) []*storage.Job {
	data, err := states.Marshal(states.Enqueued{Queue: "default", Reason: "created"})
	if err != nil {
		panic(err)
	}
	out := make([]*storage.Job, n)
	for i := range out {
		out[i] = &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "noop", Args: []byte(`0`), Queue: "default",
			State: states.NameEnqueued, StateData: data}
	}
	return out
}

// BenchmarkCreate is bulk enqueue: b.N jobs in calls of 1,000.
func BenchmarkCreate(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	b.ResetTimer()
	cpu0 := cpuTime()
	for done := 0; done < b.N; done += 1000 {
		if _, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs(min(1000, b.N-done))}); err != nil {
			b.Fatal(err)
		}
	}
	report(b, cpu0)
}

// BenchmarkFetchComplete is the store's part of a burn-down: fetch 100
// jobs, complete them in one Transition, from one goroutine.
func BenchmarkFetchComplete(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	for done := 0; done < b.N; done += 1000 {
		if _, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs(min(1000, b.N-done))}); err != nil {
			b.Fatal(err)
		}
	}
	data, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
	b.ResetTimer()
	cpu0 := cpuTime()
	var fetchCPU time.Duration
	for done := 0; done < b.N; {
		c := cpuTime()
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 100, Owner: "w", LeaseFor: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		fetchCPU += cpuTime() - c
		ts := make([]storage.Transition, len(got))
		for i, j := range got {
			ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, From: []states.Name{states.NameProcessing}, To: states.NameSucceeded, Data: data}
		}
		if _, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts}); err != nil {
			b.Fatal(err)
		}
		done += len(got)
	}
	report(b, cpu0)
	b.ReportMetric(float64(fetchCPU.Nanoseconds())/1e3/float64(b.N), "fetch-cpu-µs/job")
}

// BenchmarkContinuous is the store's part of continuous insert and work,
// from one goroutine: over a backlog of 20,000 jobs, each round creates
// 1,000 jobs, fetches them 500 at a time and completes each fetch in one
// Transition, as a worker's completer does (token, owner, From, queue, a
// retention).
func BenchmarkContinuous(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	for range 20 {
		if _, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs(1000)}); err != nil {
			b.Fatal(err)
		}
	}
	from := []states.Name{states.NameProcessing}
	b.ResetTimer()
	cpu0 := cpuTime()
	var fetchCPU, createCPU time.Duration
	for done := 0; done < b.N; {
		c := cpuTime()
		if _, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs(1000)}); err != nil {
			b.Fatal(err)
		}
		createCPU += cpuTime() - c
		for range 2 {
			c := cpuTime()
			got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 500, Owner: "w", LeaseFor: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			fetchCPU += cpuTime() - c
			ts := make([]storage.Transition, len(got))
			for i, j := range got {
				data, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now(), Duration: time.Microsecond})
				ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, Owner: j.LeaseOwner, From: from, To: states.NameSucceeded,
					Data: data, Queue: j.Queue, ExpireAt: time.Now().Add(24 * time.Hour)}
			}
			if _, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts}); err != nil {
				b.Fatal(err)
			}
			done += len(got)
		}
	}
	report(b, cpu0)
	b.ReportMetric(float64(fetchCPU.Nanoseconds())/1e3/float64(b.N), "fetch-cpu-µs/job")
	b.ReportMetric(float64(createCPU.Nanoseconds())/1e3/float64(b.N), "create-cpu-µs/job")
}

// cpuTime is the CPU time the process has used: on a shared machine, a
// steadier measure of cost than the time elapsed.
func cpuTime() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// report reports jobs per second of elapsed time, and the CPU time per job
// of the whole process (the store's writer and readers included).
func report(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/job")
}

// BenchmarkBytesOnDisk reports the file's size per job: b.N pending jobs,
// then the same jobs once each has been fetched and succeeded (its
// history: created Enqueued, Processing, Succeeded). The store is closed
// before each measure, which checkpoints the WAL into the file.
func BenchmarkBytesOnDisk(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "jobs.db")
	size := func() float64 {
		fi, err := os.Stat(path)
		require.NoError(b, err)
		return float64(fi.Size())
	}
	s, err := Open(ctx, path)
	require.NoError(b, err)
	require.NoError(b, s.Close())
	empty := size()
	s, err = Open(ctx, path)
	require.NoError(b, err)
	for done := 0; done < b.N; done += 1000 {
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs(min(1000, b.N-done))})
		require.NoError(b, err)
	}
	require.NoError(b, s.Close())
	b.ReportMetric((size()-empty)/float64(b.N), "bytes/pending-job")
	s, err = Open(ctx, path)
	require.NoError(b, err)
	data, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now(), Result: []byte(`{}`)})
	for done := 0; done < b.N; {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 500, Owner: "worker-1", LeaseFor: time.Minute})
		require.NoError(b, err)
		ts := make([]storage.Transition, len(got))
		for i, j := range got {
			ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: data}
		}
		_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
		require.NoError(b, err)
		done += len(got)
	}
	require.NoError(b, s.Close())
	b.ReportMetric((size()-empty)/float64(b.N), "bytes/finished-job")
}

func BenchmarkContinuations(b *testing.B) {
	storagetest.BenchmarkContinuations(b, func(b *testing.B) storage.Store { return newStore(b) })
}

// BenchmarkLimitedFetch is a fetch of 10 jobs under a partition limit,
// with a backlog of jobs over 100 partitions that the fetch serves round
// robin; the jobs are completed between fetches, so the backlog stays.
// Its cost per fetch grows with the backlog: a limited fetch reads the
// queue's Enqueued jobs in their order until it has its jobs.
func BenchmarkLimitedFetch(b *testing.B) {
	for _, backlog := range []int{1_000, 10_000} {
		b.Run(strconv.Itoa(backlog), func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			require.NoError(b, s.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "noop", Concurrency: 5}}))
			add := func(n int) {
				js := jobs(n)
				for i, j := range js {
					j.Partition = "p" + strconv.Itoa(i%100)
				}
				_, err := s.Create(ctx, &storage.CreateParams{Jobs: js})
				require.NoError(b, err)
			}
			add(backlog)
			data, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
			b.ResetTimer()
			for b.Loop() {
				got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Minute})
				if err != nil || len(got) == 0 {
					b.Fatal(len(got), err)
				}
				ts := make([]storage.Transition, len(got))
				for i, j := range got {
					ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: data}
				}
				if _, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				add(len(got))
				b.StartTimer()
			}
		})
	}
}
