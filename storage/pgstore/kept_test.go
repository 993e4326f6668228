package pgstore

import (
	"context"
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

// where counts a job's rows in jobs and in jobs_kept.
func where(t *testing.T, s *Store, id uuid.UUID) (hot, kept int) {
	t.Helper()
	require.NoError(t, s.pool.QueryRow(testCtx(t), `SELECT (SELECT count(*) FROM `+s.cfg.schema+`.jobs WHERE id = $1),
		(SELECT count(*) FROM `+s.cfg.schema+`.jobs_kept WHERE id = $1)`, id).Scan(&hot, &kept))
	return hot, kept
}

// failJobs fetches up to n jobs of queue "default" and fails them.
func failJobs(ctx context.Context, s *Store, n int) ([]uuid.UUID, error) {
	jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "w", LeaseFor: time.Minute})
	if err != nil {
		return nil, err
	}
	data, err := states.Marshal(states.Failed{FailedAt: time.Now(), ErrorMessage: "boom"})
	if err != nil {
		return nil, err
	}
	ts := make([]storage.Transition, len(jobs))
	ids := make([]uuid.UUID, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
		ts[i] = storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken, To: states.NameFailed, Data: data}
	}
	errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
	return ids, errors.Join(append(errs, err)...)
}

func prune(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	_, err := s.DeleteExpired(testCtx(t), &storage.PruneParams{Now: now, Limit: 100})
	require.NoError(t, err)
}

// The pruner moves Failed jobs to jobs_kept, except those holding a unique
// key, whose keys it releases once their unique_until has passed; a change
// moves a job back.
func TestPrunerKeepsFailedJobsApart(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	now := time.Now()
	plain, held, expired := enqueuedJob(t), enqueuedJob(t), enqueuedJob(t)
	held.UniqueKey, held.UniqueUntil = "held", now.Add(time.Hour)
	expired.UniqueKey, expired.UniqueUntil = "expired", now.Add(time.Minute)
	require.NoError(t, create(ctx, s, plain, held, expired))
	_, err := failJobs(ctx, s, 3)
	require.NoError(t, err)

	prune(t, s, now.Add(2*time.Minute))
	for _, tt := range []struct {
		job       *storage.Job
		hot, kept int
	}{{plain, 0, 1}, {held, 1, 0}, {expired, 1, 0}} {
		hot, kept := where(t, s, tt.job.ID)
		require.Equal(t, [2]int{tt.hot, tt.kept}, [2]int{hot, kept}, "job with key %q after one prune", tt.job.UniqueKey)
	}
	prune(t, s, now.Add(2*time.Minute))
	hot, kept := where(t, s, expired.ID)
	require.Equal(t, [2]int{0, 1}, [2]int{hot, kept}, "a released key's job moves at the next prune")

	errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{{
		ID: plain.ID, From: []states.Name{states.NameFailed}, To: states.NameEnqueued, Data: []byte(`{"queue":"default"}`)}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	hot, kept = where(t, s, plain.ID)
	require.Equal(t, [2]int{1, 0}, [2]int{hot, kept}, "a requeued job moves back")
	require.Equal(t, states.NameEnqueued, get(t, s, plain.ID).State)
}

// The pruner deletes the GCRA times past by storage.RateTimeKept, and only those: a
// partition rate limit leaves one per partition, which would stay for ever.
func TestPrunerDeletesPastRateTimes(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	now := time.Now()
	require.NoError(t, s.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Rate: 1, Period: time.Minute}}))
	for _, p := range []string{"a", "b", "c"} {
		for range 2 {
			j := enqueuedJob(t)
			j.Partition = p
			require.NoError(t, create(ctx, s, j))
		}
	}
	fetchAt := func(at time.Time) int {
		jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Hour, Now: at})
		require.NoError(t, err)
		return len(jobs)
	}
	rates := func() (n int) {
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.cfg.schema+`.limit_rates`).Scan(&n))
		return n
	}
	require.Equal(t, 3, fetchAt(now), "one start per partition")
	require.Equal(t, 3, rates())
	prune(t, s, now.Add(30*time.Second))
	require.Equal(t, 3, rates(), "times not yet past by RateTimeKept were deleted")
	require.Zero(t, fetchAt(now.Add(30*time.Second)), "the rate let a start through early")
	prune(t, s, now.Add(time.Minute+storage.RateTimeKept))
	require.Zero(t, rates(), "past times were kept")
	require.Equal(t, 3, fetchAt(now.Add(2*time.Minute)), "a deleted time held a start back")
}

// Failed jobs moved aside and back while they are requeued, deleted,
// awaited by new continuations and logged, with a worker failing them
// again: no change ever finds a job missing, every job is in exactly one
// table, jobs_kept holds Failed jobs only, no log record is lost and
// PostgreSQL counts no deadlock.
func TestKeptJobsUnderConcurrentChange(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	const n = 60
	jobs := make([]*storage.Job, n)
	for i := range jobs {
		jobs[i] = enqueuedJob(t)
	}
	require.NoError(t, create(ctx, s, jobs...))
	_, err := failJobs(ctx, s, n)
	require.NoError(t, err)
	deadlocksBefore := deadlocks(t, s)

	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		logged  [n]atomic.Int64
		conts   sync.Map // continuation id → true
		failure = make(chan error, 16)
	)
	report := func(err error) {
		select {
		case failure <- err:
		default:
		}
	}
	loop := func(seed uint64, fn func(r *rand.Rand) error) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(seed), 7))
			for !stop.Load() {
				if err := fn(r); err != nil {
					report(err)
					return
				}
			}
		})
	}
	change := func(r *rand.Rand) error { // requeue or delete a few jobs, Failed or not
		ts := make([]storage.Transition, 1+r.IntN(4))
		for i := range ts {
			ts[i] = storage.Transition{ID: jobs[r.IntN(n)].ID, From: []states.Name{states.NameFailed, states.NameDeleted},
				To: states.NameEnqueued, Data: []byte(`{"queue":"default"}`)}
			if r.IntN(4) == 0 {
				ts[i].From, ts[i].To, ts[i].Data = []states.Name{states.NameFailed}, states.NameDeleted, []byte(`{}`)
			}
		}
		errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
		for _, e := range errs {
			if e != nil && !errors.Is(e, storage.ErrStateConflict) {
				err = errors.Join(err, e)
			}
		}
		return err
	}
	loop(uint64(seed), change)
	loop(uint64(seed)+1, change)
	loop(uint64(seed)+2, func(*rand.Rand) error { // the pruner
		_, err := s.DeleteExpired(ctx, &storage.PruneParams{Limit: 7})
		return err
	})
	loop(uint64(seed)+3, func(r *rand.Rand) error { // a worker that fails every job it takes
		_, err := failJobs(ctx, s, 1+r.IntN(5))
		return err
	})
	loop(uint64(seed)+4, func(r *rand.Rand) error { // continuations of random jobs
		c := enqueuedJob(t)
		c.Queue, c.State, c.ParentID = "continuations", states.NameAwaiting, jobs[r.IntN(n)].ID
		data, err := states.Marshal(states.Awaiting{ParentID: c.ParentID.String(), On: states.OnFinish})
		if err != nil {
			return err
		}
		c.StateData = data
		conts.Store(c.ID, true)
		return create(ctx, s, c)
	})
	loop(uint64(seed)+5, func(r *rand.Rand) error { // job logs
		k := r.IntN(n)
		err := s.AppendLogs(ctx, []storage.LogRecord{{JobID: jobs[k].ID, Attempt: 1, At: time.Now(), Level: "INFO", Message: "m"}})
		if err == nil {
			logged[k].Add(1)
		}
		return err
	})
	time.Sleep(3 * time.Second)
	stop.Store(true)
	wg.Wait()
	close(failure)
	for err := range failure {
		require.NoError(t, err)
	}

	var misplaced, notFailed int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT id FROM `+s.cfg.schema+`.jobs_all GROUP BY id HAVING count(*) > 1) x),
		(SELECT count(*) FROM `+s.cfg.schema+`.jobs_kept WHERE state <> 'failed')`).Scan(&misplaced, &notFailed))
	require.Zero(t, misplaced, "jobs in both tables")
	require.Zero(t, notFailed, "kept jobs not Failed")
	for k, j := range jobs {
		hot, kept := where(t, s, j.ID)
		require.Equal(t, 1, hot+kept, "job %s", j.ID)
		logs, _, err := s.JobLogs(ctx, j.ID)
		require.NoError(t, err)
		require.Len(t, logs, int(logged[k].Load()), "log records of job %s", j.ID)
	}
	conts.Range(func(id, _ any) bool {
		get(t, s, id.(uuid.UUID))
		return true
	})
	require.Equal(t, deadlocksBefore, deadlocks(t, s), "deadlocks")
}
