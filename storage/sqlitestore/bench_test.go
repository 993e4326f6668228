package sqlitestore

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
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
	for done := 0; done < b.N; {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 100, Owner: "w", LeaseFor: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
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
