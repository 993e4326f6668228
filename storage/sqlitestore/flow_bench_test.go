package sqlitestore

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/flowstress"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// BenchmarkIdlePartitionPickup: while 100,000 jobs of one partition wait
// behind its full limit, each op enqueues a job of another partition,
// fetches it and completes it. A fetch finds the held partition with one
// seek and skips it, whatever its backlog.
func BenchmarkIdlePartitionPickup(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	require.NoError(b, s.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "noop", Concurrency: 2}}))
	for range 100 {
		js := jobs(1000)
		for _, j := range js {
			j.Partition = "big"
		}
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: js})
		require.NoError(b, err)
	}
	fetch := func() []*storage.Job {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Hour})
		require.NoError(b, err)
		return got
	}
	require.Len(b, fetch(), 2) // the big partition is full from now on
	data, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
	i := 0
	for b.Loop() {
		js := jobs(1)
		js[0].Partition = "p" + strconv.Itoa(i)
		i++
		if _, err := s.Create(ctx, &storage.CreateParams{Jobs: js}); err != nil {
			b.Fatal(err)
		}
		got := fetch()
		if len(got) != 1 || got[0].ID != js[0].ID {
			b.Fatalf("fetched %d jobs, want the idle partition's", len(got))
		}
		if _, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{
			{ID: got[0].ID, Token: got[0].LeaseToken, To: states.NameSucceeded, Data: data}}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFlowWorkers measures flow control at the worker level
// (flowstress.Workers: one worker at the default settings, 100 slots, b.N
// jobs of a task that returns at once, in the cases of
// flowstress.WorkerCases). One op is one job; cpu-µs/job is the process's
// CPU time per job.
func BenchmarkFlowWorkers(b *testing.B) {
	for _, c := range flowstress.WorkerCases {
		b.Run(c.Name, func(b *testing.B) {
			flowstress.Workers(b, newStore(b), c, nil, func() func() {
				cpu0 := cpuTime()
				return func() {
					b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/job")
				}
			})
		})
	}
}
