package storagetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// BenchmarkContinuations measures the resolution of continuations of
// jobs: one op is one parent created with its continuation, fetched and
// completed, in calls of 100, which resolves the continuation. The
// continuation keeps its args (args=given) or takes its parent's result,
// stored as JSON (args=result) or in base64 (args=result_bytes). The
// stores newStore returns must implement [storage.Continuations]; a
// backend's benchmark calls it.
func BenchmarkContinuations(b *testing.B, newStore func(b *testing.B) storage.Store) {
	results := map[bool][]byte{
		false: []byte(`{"order":7,"lines":["` + strings.Repeat("x", 80) + `"],"total":700}`),
		true:  []byte("\x00" + strings.Repeat("\xfe", 100)),
	}
	for _, bc := range []struct {
		name       string
		fromResult bool
		binary     bool
	}{
		{"args=given", false, false},
		{"args=result", true, false},
		{"args=result_bytes", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newStore(b)
			ctx := context.Background()
			now := time.Now()
			done, err := states.Marshal(states.Succeeded{SucceededAt: now, Result: results[bc.binary], Duration: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			enqueued, _ := states.Marshal(states.Enqueued{Queue: "default", EnqueuedAt: now})
			const batch = 100
			for n := 0; n < b.N; n += batch {
				jobs := make([]*storage.Job, 0, 2*batch)
				for range min(batch, b.N-n) {
					p := &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "parent", Args: []byte(`{"n":1}`), Queue: "default",
						State: states.NameEnqueued, StateData: enqueued, CreatedAt: now}
					aw, _ := states.Marshal(states.Awaiting{ParentID: p.ID.String(), On: states.OnSuccess, ArgsFromResult: bc.fromResult})
					c := &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "child", Args: []byte(`{"n":2}`), Queue: "then",
						State: states.NameAwaiting, StateData: aw, CreatedAt: now, ParentID: p.ID}
					jobs = append(jobs, p, c)
				}
				if _, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs}); err != nil {
					b.Fatal(err)
				}
				leased, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: batch, Owner: owner, LeaseFor: time.Minute})
				if err != nil {
					b.Fatal(err)
				}
				ts := make([]storage.Transition, len(leased))
				for i, j := range leased {
					ts[i] = storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken, To: states.NameSucceeded, Data: done}
				}
				errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
				if err != nil {
					b.Fatal(err)
				}
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
