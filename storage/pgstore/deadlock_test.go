package pgstore

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Completions, renewals and checks of leases run at once on the same rows,
// in different orders: two completers each try to finish every job (one
// wins each job, the other is told its lease is lost), while renewers
// extend every lease. No call may fail (a deadlock is an error), no job may
// be reported lost while its lease is still held, and every job ends
// Succeeded exactly once.
func TestConcurrentCompletionsAndRenewalsDoNotDeadlock(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	const n, batch = 2000, 100
	jobs := make([]*storage.Job, n)
	for i := range jobs {
		jobs[i] = enqueuedJob(t)
	}
	require.NoError(t, create(ctx, s, jobs...))
	leased, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "srv", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, leased, n)
	held := make(map[uuid.UUID]int64, n)
	for _, j := range leased {
		held[j.ID] = j.LeaseToken
	}
	data, err := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
	require.NoError(t, err)

	var (
		wg        sync.WaitGroup
		stored    atomic.Int64
		completed = make(chan struct{})
	)
	for c := range 2 {
		wg.Go(func() {
			order := rand.New(rand.NewPCG(uint64(c), 1)).Perm(n)
			for start := 0; start < n; start += batch {
				ts := make([]storage.Transition, 0, batch)
				for _, k := range order[start:min(start+batch, n)] {
					j := leased[k]
					ts = append(ts, storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken,
						To: states.NameSucceeded, Data: data, ExpireAt: time.Now().Add(time.Hour)})
				}
				errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
				if !assertNoError(t, err, "transition") {
					return
				}
				for _, e := range errs {
					if e == nil {
						stored.Add(1)
					} else if !errors.Is(e, storage.ErrLeaseLost) {
						t.Errorf("job completed twice: %v", e)
					}
				}
			}
		})
	}
	var renewers sync.WaitGroup
	for r := range 3 {
		renewers.Go(func() {
			for {
				select {
				case <-completed:
					return
				default:
				}
				p := &storage.ExtendParams{Owner: "srv", Jobs: held}
				if r > 0 { // one checks only, the others renew
					p.Until = time.Now().Add(time.Hour)
				}
				before := time.Now()
				lost, err := s.ExtendLeases(ctx, p)
				if !assertNoError(t, err, "extend leases") {
					return
				}
				// A job reported lost must have finished: its completion
				// committed before the call started (or during it).
				if len(lost) > 0 {
					for _, l := range lost[:min(len(lost), 5)] {
						id := l.ID
						if j, err := s.Get(ctx, id); !assertNoError(t, err, "get") || j.State != states.NameSucceeded {
							t.Errorf("job %s reported lost at %s while still leased", id, before)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(completed)
	renewers.Wait()
	require.Equal(t, int64(n), stored.Load(), "every job is completed exactly once")
	counts, err := s.Count(ctx, "")
	require.NoError(t, err)
	require.Equal(t, int64(n), counts[states.NameSucceeded])
}

// assertNoError reports err without stopping the calling goroutine's
// siblings.
func assertNoError(t *testing.T, err error, what string) bool {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	return true
}

// deadlocks returns how many deadlocks PostgreSQL has counted in the
// test's database. Backends report their counts when they go idle, at most
// once a second, so it waits for the report of the calls made so far.
func deadlocks(t *testing.T, s *Store) int64 {
	t.Helper()
	ctx := testCtx(t)
	time.Sleep(1500 * time.Millisecond)
	conn, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	var n int64
	_, err = conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
	require.NoError(t, err)
	require.NoError(t, conn.QueryRow(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n))
	return n
}

// Job logs and progress of many jobs, flushed in random orders, while
// transitions of the same jobs, in other random orders, store new states:
// no call fails, PostgreSQL counts no deadlock, every record lands, and of
// two entries of one job's progress in one call the last wins.
func TestLogsProgressAndTransitionsDoNotDeadlock(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	const n, batch, rounds = 600, 60, 4
	before := deadlocks(t, s)
	jobs := make([]*storage.Job, n)
	for i := range jobs {
		jobs[i] = enqueuedJob(t)
	}
	require.NoError(t, create(ctx, s, jobs...))
	data, err := states.Marshal(states.Scheduled{EnqueueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)

	var flushers, movers sync.WaitGroup
	stop := make(chan struct{})
	for w := range 3 {
		flushers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for r := range rounds {
				order := rng.Perm(n)
				for start := 0; start < n; start += batch {
					var records []storage.LogRecord
					var progress []storage.Progress
					for _, k := range order[start:min(start+batch, n)] {
						id := jobs[k].ID
						records = append(records, storage.LogRecord{JobID: id, Attempt: 1, At: time.Now(), Level: "INFO", Message: "m"})
						progress = append(progress, storage.Progress{JobID: id, Attempt: 1, Percent: r, At: time.Now()},
							storage.Progress{JobID: id, Attempt: 2, Percent: r + 1, At: time.Now()})
					}
					if !assertNoError(t, s.AppendLogs(ctx, records), "append logs") ||
						!assertNoError(t, s.SetProgress(ctx, progress), "set progress") {
						return
					}
				}
			}
		})
	}
	for m := range 2 {
		movers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(m), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				ts := make([]storage.Transition, 0, batch)
				for _, k := range rng.Perm(n)[:batch] {
					ts = append(ts, storage.Transition{ID: jobs[k].ID, From: []states.Name{states.NameEnqueued, states.NameScheduled},
						To: states.NameScheduled, Data: data, RunAt: time.Now().Add(time.Hour)})
				}
				errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
				if !assertNoError(t, err, "transition") {
					return
				}
				for _, e := range errs {
					assertNoError(t, e, "transition of a job")
				}
			}
		})
	}
	flushers.Wait()
	close(stop)
	movers.Wait()
	var logs int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.cfg.schema+`.job_logs`).Scan(&logs))
	require.Equal(t, 3*rounds*n, logs, "every record stored")
	for _, j := range jobs[:10] {
		_, p, err := s.JobLogs(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, 2, p.Attempt, "the last entry of a job wins")
	}
	require.Equal(t, before, deadlocks(t, s), "deadlocks counted by PostgreSQL")
}
