package redisstore

import (
	"context"
	flagpkg "flag"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

var listJobs = flagpkg.Int("list.jobs", 100_000, "jobs in the store of BenchmarkListDepth")

// BenchmarkListDepth lists a page of 20 jobs at the start, after a
// cursor deep in, and at the end of each list of a store of -list.jobs
// jobs (100,000 by default: nine in ten succeeded, the others failed,
// enqueued in three queues or scheduled): keyset pages cost the same at
// any depth.
//
//	go test ./storage/redisstore -run '^$' -bench ListDepth -benchtime 20x
func BenchmarkListDepth(b *testing.B) {
	s := newStore(b, testClient(b))
	ctx := context.Background()
	const chunk = 1000
	for n := 0; n < *listJobs; n += chunk {
		jobs := make([]*storage.Job, chunk)
		for i := range jobs {
			k := n + i
			st, data, runAt := states.NameEnqueued, []byte(nil), time.Time{}
			if k%100 == 99 {
				runAt = time.Now().Add(time.Duration(k) * time.Second)
				st = states.NameScheduled
				data, _ = states.Marshal(states.Scheduled{EnqueueAt: runAt, ScheduledAt: time.Now()})
			} else {
				data, _ = states.Marshal(states.Enqueued{Queue: "q", EnqueuedAt: time.Now()})
			}
			jobs[i] = &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "bulk", Args: []byte(`{}`), Queue: []string{"default", "mail", "reports"}[k%3],
				Priority: k % 2, State: st, StateData: data, RunAt: runAt, CreatedAt: time.Now()}
		}
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
		require.NoError(b, err)
		var trs []storage.Transition
		for i, j := range jobs {
			if j.State != states.NameEnqueued || (n+i)%10 == 0 { // one in ten stays enqueued or scheduled
				continue
			}
			to, data := states.NameSucceeded, []byte(`{"succeeded_at":"2026-01-01T00:00:00Z"}`)
			if (n+i)%10 == 1 {
				to, data = states.NameFailed, []byte(`{"failed_at":"2026-01-01T00:00:00Z","error_message":"boom"}`)
			}
			trs = append(trs, storage.Transition{ID: j.ID, To: to, Data: data})
		}
		_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: trs})
		require.NoError(b, err)
	}
	for _, p := range []storage.ListParams{
		{State: states.NameSucceeded}, {State: states.NameSucceeded, Queue: "mail"}, {State: states.NameFailed},
		{State: states.NameEnqueued}, {State: states.NameEnqueued, Queue: "mail"}, {State: states.NameScheduled},
	} {
		p.Limit = 20
		all, err := s.List(ctx, &storage.ListParams{State: p.State, Queue: p.Queue})
		require.NoError(b, err)
		deep := p
		deep.Cursor = all[len(all)*3/4].Cursor
		last := p
		last.Backward = true
		for name, q := range map[string]storage.ListParams{"first": p, "deep": deep, "last": last} {
			b.Run(string(p.State)+"/"+p.Queue+"/"+name, func(b *testing.B) {
				for b.Loop() {
					jobs, err := s.List(ctx, &q)
					if err != nil || len(jobs) != 20 {
						b.Fatalf("%d jobs, %v", len(jobs), err)
					}
				}
			})
		}
	}
}
