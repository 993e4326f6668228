package pgstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Large fetches under a queue limit and a task limit near their room,
// while jobs finish: each fetch takes fetchFree's plain statement or
// fetch_limited, by what is running at the time. Checked all along, from
// the rows themselves: no limit is ever exceeded; and at the end, every
// job ran.
func TestFreeFetchesNeverExceedLimits(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	const (
		queueLimit = 120
		taskLimit  = 70
		jobs       = 3000
	)
	require.NoError(t, s.SetLimits(ctx, []storage.Limit{
		{Scope: storage.ScopeQueue, Name: "default", Concurrency: queueLimit},
		{Scope: storage.ScopeTask, Name: "other", Concurrency: taskLimit},
	}))
	all := make([]*storage.Job, jobs)
	for i := range all {
		all[i] = enqueuedJob(t)
		if i%2 == 1 {
			all[i].Task = "other"
		}
	}
	require.NoError(t, create(ctx, s, all...))

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		done     int
		bound    int // fetches that found a limit able to bind them
		finished = make(chan struct{})
	)
	for w := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			var held []*storage.Job
			for {
				select {
				case <-finished:
					return
				default:
				}
				s.limitCache.boundAt.Store(0) // every fetch asks first
				got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: freeFetchMin + r.IntN(50), Owner: "w", LeaseFor: time.Minute})
				if !assertNoError(t, err, "fetch") {
					return
				}
				if s.limitCache.boundAt.Load() != 0 {
					mu.Lock()
					bound++
					mu.Unlock()
				}
				held = append(held, got...)
				r.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
				n := r.IntN(len(held) + 1)
				if n > 0 {
					if !assertNoError(t, succeed(ctx, s, held[:n]), "complete") {
						return
					}
					held = held[n:]
					mu.Lock()
					done += n
					if done == jobs {
						close(finished)
					}
					mu.Unlock()
				}
			}
		})
	}
	check := func() {
		var queue, task int
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE task = 'other') FROM `+s.cfg.schema+`.jobs
			WHERE state = 'processing'`).Scan(&queue, &task))
		require.LessOrEqual(t, queue, queueLimit, "the queue limit")
		require.LessOrEqual(t, task, taskLimit, "the task limit")
	}
	for waiting := true; waiting; {
		select {
		case <-finished:
			waiting = false
		case <-ctx.Done():
			t.Fatalf("not every job finished: %d of %d", done, jobs)
		default:
			check()
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	check()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, jobs, done)
	require.Positive(t, bound, "no fetch went to fetch_limited")
	t.Logf("%d fetches found a limit able to bind them", bound)
}

// succeed makes leased jobs Succeeded.
func succeed(ctx context.Context, s *Store, jobs []*storage.Job) error {
	data, err := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
	if err != nil {
		return err
	}
	ts := make([]storage.Transition, len(jobs))
	for i, j := range jobs {
		ts[i] = storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken, To: states.NameSucceeded, Data: data}
	}
	errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}
