package storagetest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func ofTask(name string) jobOpt   { return func(j *storage.Job) { j.Task = name } }
func inPartition(p string) jobOpt { return func(j *storage.Job) { j.Partition = p } }
func queueLimit(n int) storage.Limit {
	return storage.Limit{Scope: storage.ScopeQueue, Name: "default", Concurrency: n}
}
func partitionLimit(task string, n int) storage.Limit {
	return storage.Limit{Scope: storage.ScopePartition, Name: task, Concurrency: n}
}

func setLimits(t *testing.T, s storage.Store, limits ...storage.Limit) {
	t.Helper()
	require.NoError(t, s.(storage.FlowControl).SetLimits(ctx(t), limits))
}

// jobsOf makes n Enqueued jobs with opts.
func jobsOf(t *testing.T, n int, opts ...jobOpt) []*storage.Job {
	out := make([]*storage.Job, n)
	for i := range out {
		out[i] = newJob(t, opts...)
	}
	return out
}

func fetchAt(t *testing.T, s storage.Store, now time.Time, limit int) []*storage.Job {
	t.Helper()
	jobs, err := s.Fetch(ctx(t), &storage.FetchParams{Queues: []string{"default"}, Limit: limit, Owner: owner, LeaseFor: time.Minute, Now: now})
	require.NoError(t, err)
	return jobs
}

func countBy(jobs []*storage.Job, key func(*storage.Job) string) map[string]int {
	out := map[string]int{}
	for _, j := range jobs {
		out[key(j)]++
	}
	return out
}

func partitionOf(j *storage.Job) string { return j.Partition }
func taskOf(j *storage.Job) string      { return j.Task }

func succeedAll(t *testing.T, s storage.Store, jobs ...*storage.Job) {
	t.Helper()
	ts := make([]storage.Transition, len(jobs))
	for i, j := range jobs {
		ts[i] = succeed(j.ID, j.LeaseToken)
	}
	for _, err := range transition(t, s, false, ts...) {
		require.NoError(t, err)
	}
}

func testFlowControl(t *testing.T, newStore NewStore) {
	t.Run("PartitionIsStored", func(t *testing.T) {
		s := newStore(t)
		long := strings.Repeat("é", storage.MaxPartitionLen/2)
		ids := create(t, s, newJob(t, inPartition("acct-1")), newJob(t, inPartition(long)), newJob(t))
		require.Equal(t, "acct-1", get(t, s, ids[0]).Partition)
		require.Equal(t, long, get(t, s, ids[1]).Partition)
		require.Empty(t, get(t, s, ids[2]).Partition)
		require.ElementsMatch(t, []string{"acct-1", long, ""}, keysOf(countBy(fetch(t, s, 10), partitionOf)))
	})

	t.Run("QueueConcurrencyBoundsProcessingJobs", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, queueLimit(2))
		create(t, s, jobsOf(t, 5)...)
		first := fetch(t, s, 10)
		require.Len(t, first, 2)
		require.Empty(t, fetch(t, s, 10), "a full limit leased more")
		succeedAll(t, s, first[0])
		require.Len(t, fetch(t, s, 10), 1, "a finished job did not give its slot back")
	})

	t.Run("TaskConcurrencyLeavesOtherTasksFree", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, storage.Limit{Scope: storage.ScopeTask, Name: "limited", Concurrency: 1})
		create(t, s, jobsOf(t, 5, ofTask("limited"))...)
		create(t, s, jobsOf(t, 5, ofTask("free"))...)
		got := countBy(fetch(t, s, 20), taskOf)
		require.Equal(t, map[string]int{"limited": 1, "free": 5}, got, "a task held back by its limit held back another task")
	})

	t.Run("PartitionConcurrencyCountsEachPartition", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, partitionLimit("test-task", 2))
		for _, p := range []string{"a", "b", "c"} {
			create(t, s, jobsOf(t, 4, inPartition(p))...)
		}
		got := fetch(t, s, 20)
		require.Equal(t, map[string]int{"a": 2, "b": 2, "c": 2}, countBy(got, partitionOf))
		require.Empty(t, fetch(t, s, 20))
		succeedAll(t, s, got[0])
		again := fetch(t, s, 20)
		require.Len(t, again, 1)
		require.Equal(t, got[0].Partition, again[0].Partition, "the slot freed was another partition's")
	})

	t.Run("TaskAndPartitionLimitsTogether", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, partitionLimit("test-task", 2), storage.Limit{Scope: storage.ScopeTask, Name: "test-task", Concurrency: 5})
		for _, p := range []string{"a", "b", "c"} {
			create(t, s, jobsOf(t, 4, inPartition(p))...)
		}
		got := fetch(t, s, 20)
		require.Len(t, got, 5, "the task's limit")
		for p, n := range countBy(got, partitionOf) {
			require.LessOrEqual(t, n, 2, "partition %s", p)
		}
	})

	t.Run("HeldBackPartitionDoesNotBlockOthers", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, partitionLimit("test-task", 1))
		create(t, s, jobsOf(t, 200, inPartition("flooded"))...)
		create(t, s, jobsOf(t, 3, inPartition("quiet"))...)
		require.Len(t, fetch(t, s, 1), 1)
		got := fetch(t, s, 5)
		require.Equal(t, map[string]int{"quiet": 1}, countBy(got, partitionOf), "a held-back partition blocked the queue")
	})

	t.Run("PartitionsAreServedRoundRobin", func(t *testing.T) {
		s := newStore(t)
		create(t, s, jobsOf(t, 100, inPartition("big"))...)
		for _, p := range []string{"s1", "s2", "s3"} {
			create(t, s, jobsOf(t, 2, inPartition(p))...)
		}
		got := fetch(t, s, 8)
		require.Equal(t, map[string]int{"big": 2, "s1": 2, "s2": 2, "s3": 2}, countBy(got, partitionOf),
			"partitions were not served round robin")
		var single []*storage.Job
		for range 4 {
			single = append(single, fetch(t, s, 1)...)
		}
		require.Len(t, single, 4, "single fetches")
		require.Equal(t, map[string]int{"big": 4}, countBy(single, partitionOf))
	})

	t.Run("PriorityStillComesFirst", func(t *testing.T) {
		s := newStore(t)
		create(t, s, jobsOf(t, 3, inPartition("a"))...)
		urgent := create(t, s, newJob(t, inPartition("b"), priority(5)))
		require.Equal(t, urgent, ids(fetch(t, s, 1)))
	})

	t.Run("ExpiredLeaseGivesItsSlotBack", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, partitionLimit("test-task", 1))
		create(t, s, jobsOf(t, 2, inPartition("a"))...)
		require.Len(t, fetch(t, s, 5), 1)
		require.Empty(t, fetch(t, s, 5))
		require.Equal(t, 1, reclaim(t, s, base.Add(2*time.Minute)))
		require.Len(t, fetchAt(t, s, base.Add(2*time.Minute), 5), 1, "a reclaimed lease kept its slot")
		require.Empty(t, fetchAt(t, s, base.Add(2*time.Minute), 5))
	})

	t.Run("DeadWorkerGivesItsSlotsBack", func(t *testing.T) {
		s := newStore(t)
		srv, ok := s.(storage.Workers)
		if !ok {
			t.Skip("store does not implement storage.Workers")
		}
		setLimits(t, s, queueLimit(1))
		create(t, s, jobsOf(t, 2)...)
		f := fetch(t, s, 5)
		require.Len(t, f, 1)
		_, err := s.ExtendLeases(ctx(t), &storage.ExtendParams{Owner: owner, Jobs: map[uuid.UUID]int64{f[0].ID: f[0].LeaseToken}, Until: base.Add(time.Hour),
			Worker: &storage.WorkerInfo{ID: owner, Host: "h", PID: 1, Queues: []string{"default"}, Concurrency: 1, StartedAt: base}})
		require.NoError(t, err)
		time.Sleep(20 * time.Millisecond)
		dead, err := srv.RemoveDeadWorkers(ctx(t), 10*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, []string{owner}, dead)
		require.Len(t, fetch(t, s, 5), 1, "a dead worker's job kept its slot")
	})

	t.Run("RequeuedAndFailedJobsGiveTheirSlotsBack", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, queueLimit(2))
		create(t, s, jobsOf(t, 4)...)
		f := fetch(t, s, 5)
		require.Len(t, f, 2)
		tr := requeue(f[0].ID, states.NameProcessing)
		fail := storage.Transition{ID: f[1].ID, From: []states.Name{states.NameProcessing}, Token: f[1].LeaseToken, To: states.NameFailed, Data: mustMarshal(failed)}
		require.Equal(t, []error{nil, nil}, transition(t, s, false, tr, fail))
		require.Len(t, fetch(t, s, 5), 2)
	})

	t.Run("LimitsChangedWhileJobsRun", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, queueLimit(3))
		create(t, s, jobsOf(t, 10)...)
		running := fetch(t, s, 10)
		require.Len(t, running, 3)
		setLimits(t, s, queueLimit(1))
		succeedAll(t, s, running[0])
		require.Empty(t, fetch(t, s, 10), "two run under a limit of one, yet one more started")
		succeedAll(t, s, running[1:]...)
		require.Len(t, fetch(t, s, 10), 1)
		setLimits(t, s, queueLimit(4))
		require.Len(t, fetch(t, s, 10), 3, "a raised limit did not let more start")
		setLimits(t, s, storage.Limit{Scope: storage.ScopeQueue, Name: "default"})
		require.Len(t, fetch(t, s, 10), 3, "a removed limit still held jobs back")
	})

	t.Run("LastDeclarationWins", func(t *testing.T) {
		s := newStore(t)
		old := partitionLimit("test-task", 1)
		newer := partitionLimit("test-task", 3)
		setLimits(t, s, old)
		setLimits(t, s, newer)
		got, err := s.(storage.FlowControl).Limits(ctx(t))
		require.NoError(t, err)
		require.Equal(t, []storage.Limit{newer}, got)
		create(t, s, jobsOf(t, 5, inPartition("a"))...)
		require.Len(t, fetch(t, s, 10), 3)
		setLimits(t, s, old)
		got, err = s.(storage.FlowControl).Limits(ctx(t))
		require.NoError(t, err)
		require.Equal(t, []storage.Limit{old}, got)
	})

	t.Run("InvalidLimitsStoreNothing", func(t *testing.T) {
		s := newStore(t)
		for _, bad := range []storage.Limit{
			{Scope: storage.ScopeQueue, Name: "default", Concurrency: -1},
			{Scope: storage.ScopeQueue, Name: "default", Rate: 1},
			{Scope: storage.ScopeQueue, Name: "default", Rate: 1, Period: -time.Second},
			{Scope: storage.ScopeQueue, Name: "default", Rate: -2, Period: time.Second},
			{Scope: storage.ScopeQueue, Name: "default", Rate: 1, Period: time.Second, Burst: -1},
			{Scope: storage.ScopeQueue, Concurrency: 1},
			{Scope: "tenant", Name: "x", Concurrency: 1},
		} {
			err := s.(storage.FlowControl).SetLimits(ctx(t), []storage.Limit{queueLimit(1), bad})
			require.ErrorIs(t, err, storage.ErrInvalidLimit, "%+v", bad)
		}
		got, err := s.(storage.FlowControl).Limits(ctx(t))
		require.NoError(t, err)
		require.Empty(t, got, "a call with an invalid limit stored some")
	})

	t.Run("RateStartsSpacedWithBurst", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, storage.Limit{Scope: storage.ScopeQueue, Name: "default", Rate: 4, Period: time.Second, Burst: 2})
		create(t, s, jobsOf(t, 40)...)
		require.Len(t, fetchAt(t, s, base, 40), 3, "burst: Burst+1 start at once")
		require.Empty(t, fetchAt(t, s, base.Add(100*time.Millisecond), 40))
		require.Len(t, fetchAt(t, s, base.Add(250*time.Millisecond), 40), 1, "one start per Period/Rate")
		require.Empty(t, fetchAt(t, s, base.Add(260*time.Millisecond), 40))
	})

	t.Run("RateWindowsHoldAtMostRatePlusBurst", func(t *testing.T) {
		s := newStore(t)
		l := storage.Limit{Scope: storage.ScopePartition, Name: "test-task", Rate: 5, Period: time.Second, Burst: 3}
		setLimits(t, s, l)
		create(t, s, jobsOf(t, 150, inPartition("a"))...)
		create(t, s, jobsOf(t, 150, inPartition("b"))...)
		starts := map[string][]time.Time{}
		for now := base; now.Before(base.Add(5 * time.Second)); now = now.Add(37 * time.Millisecond) {
			for _, j := range fetchAt(t, s, now, 100) {
				starts[j.Partition] = append(starts[j.Partition], now)
			}
		}
		for p, ts := range starts {
			require.Greater(t, len(ts), 20, "partition %s starved", p)
			for i := range ts {
				n := 0
				for _, u := range ts[i:] {
					if u.Sub(ts[i]) < l.Period {
						n++
					}
				}
				require.LessOrEqual(t, n, l.Rate+l.Burst, "partition %s: %d starts in a period from %v", p, n, ts[i].Sub(base))
			}
		}
	})

	t.Run("RetryCountsAsStart", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, storage.Limit{Scope: storage.ScopeQueue, Name: "default", Rate: 1, Period: time.Minute})
		create(t, s, newJob(t))
		f := fetchAt(t, s, base, 5)
		require.Len(t, f, 1)
		require.Equal(t, []error{nil}, transition(t, s, false, requeue(f[0].ID, states.NameProcessing)))
		require.Empty(t, fetchAt(t, s, base.Add(time.Second), 5), "a retry started outside the rate")
		require.Len(t, fetchAt(t, s, base.Add(time.Minute), 5), 1)
	})

	// A fetch reads its clock before it takes the store's lock, so it may
	// act after a pruner that read a later clock. The pruner must not
	// forget a GCRA time that such a fetch still needs.
	t.Run("PrunerKeepsRateTimesAFetchMayStillNeed", func(t *testing.T) {
		s := newStore(t)
		p, ok := s.(storage.Pruner)
		if !ok {
			t.Skip("store does not implement storage.Pruner")
		}
		setLimits(t, s, storage.Limit{Scope: storage.ScopePartition, Name: "test-task", Rate: 4, Period: time.Second, Burst: 2})
		create(t, s, jobsOf(t, 20, inPartition("a"))...)
		require.Len(t, fetchAt(t, s, base, 20), 3, "burst: Burst+1 start at once") // GCRA time now base+750ms
		_, err := p.DeleteExpired(ctx(t), &storage.PruneParams{Now: base.Add(time.Second), Limit: 100})
		require.NoError(t, err)
		require.Empty(t, fetchAt(t, s, base.Add(100*time.Millisecond), 20), "a fetch that read its clock before the pruner started jobs early")
		_, err = p.DeleteExpired(ctx(t), &storage.PruneParams{Now: base.Add(time.Second + storage.RateTimeKept), Limit: 100})
		require.NoError(t, err)
		require.Len(t, fetchAt(t, s, base.Add(time.Second+storage.RateTimeKept), 20), 3, "a time pruned or not, the burst is whole again")
	})

	t.Run("ConcurrentFetchesNeverExceedLimits", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, partitionLimit("test-task", 2), queueLimit(15))
		parts := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
		for _, p := range parts {
			create(t, s, jobsOf(t, 10, inPartition(p))...)
		}
		var (
			mu   sync.Mutex
			got  []*storage.Job
			errs atomic.Int32
		)
		fns := make([]func() error, 8)
		for i := range fns {
			fns[i] = func() error {
				for range 3 {
					jobs, err := s.Fetch(context.Background(), &storage.FetchParams{Queues: []string{"default"}, Limit: 3, Owner: owner, LeaseFor: time.Minute, Now: base})
					if err != nil {
						errs.Add(1)
						return err
					}
					mu.Lock()
					got = append(got, jobs...)
					mu.Unlock()
				}
				return nil
			}
		}
		together(t, fns...)
		require.Len(t, got, 15, "the queue limit")
		for p, n := range countBy(got, partitionOf) {
			require.LessOrEqual(t, n, 2, "partition %s", p)
		}
	})

	// A limit larger than each fetch binds only once some run: the fetches
	// that find it far from full still count against it.
	// Fetches as large as a worker's, most of which the limits leave room
	// for whole: a store may lease those by a path of its own.
	t.Run("LargeConcurrentFetchesStopAtTheLimits", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, queueLimit(100), storage.Limit{Scope: storage.ScopeTask, Name: "other", Concurrency: 50})
		create(t, s, jobsOf(t, 150)...)
		create(t, s, jobsOf(t, 150, ofTask("other"))...)
		var (
			mu  sync.Mutex
			got []*storage.Job
		)
		fns := make([]func() error, 6)
		for i := range fns {
			fns[i] = func() error {
				for range 3 {
					jobs, err := s.Fetch(context.Background(), &storage.FetchParams{Queues: []string{"default"}, Limit: 40, Owner: owner, LeaseFor: time.Minute, Now: base})
					if err != nil {
						return err
					}
					mu.Lock()
					got = append(got, jobs...)
					mu.Unlock()
				}
				return nil
			}
		}
		together(t, fns...)
		require.Len(t, got, 100, "the queue limit")
		require.LessOrEqual(t, countBy(got, taskOf)["other"], 50, "the task limit")
		succeedAll(t, s, got[:30]...)
		again := fetchAt(t, s, base, 40)
		require.Len(t, again, 30, "finished jobs did not give their slots back, or more were taken")
		require.LessOrEqual(t, countBy(append(got[30:], again...), taskOf)["other"], 50, "the task limit")
	})

	t.Run("LimitLargerThanEachFetchBindsAcrossFetches", func(t *testing.T) {
		s := newStore(t)
		setLimits(t, s, queueLimit(5))
		create(t, s, jobsOf(t, 20)...)
		var (
			mu  sync.Mutex
			got []*storage.Job
		)
		fns := make([]func() error, 4)
		for i := range fns {
			fns[i] = func() error {
				for range 3 {
					jobs, err := s.Fetch(context.Background(), &storage.FetchParams{Queues: []string{"default"}, Limit: 3, Owner: owner, LeaseFor: time.Minute, Now: base})
					if err != nil {
						return err
					}
					mu.Lock()
					got = append(got, jobs...)
					mu.Unlock()
				}
				return nil
			}
		}
		together(t, fns...)
		require.Len(t, got, 5, "the queue limit")
		succeedAll(t, s, got[:2]...)
		require.Len(t, fetch(t, s, 3), 2, "finished jobs did not give their slots back")
	})

	t.Run("UsageCountsRunningAndWaiting", func(t *testing.T) {
		s := newStore(t)
		pl := partitionLimit("test-task", 1)
		ql := storage.Limit{Scope: storage.ScopeQueue, Name: "default", Rate: 1, Period: time.Hour}
		setLimits(t, s, pl, ql)
		create(t, s, jobsOf(t, 3, inPartition("a"))...)
		create(t, s, jobsOf(t, 2, inPartition("b"))...)
		require.Len(t, fetchAt(t, s, time.Now(), 10), 1)
		use, err := s.(storage.FlowControl).LimitUsage(ctx(t))
		require.NoError(t, err)
		require.Len(t, use, 3)
		require.Equal(t, []string{"partition:test-task", "partition:test-task", "queue:default"},
			[]string{use[0].Limit.Key(), use[1].Limit.Key(), use[2].Limit.Key()}, "ordered by key")
		require.Equal(t, []string{"a", "b", ""}, []string{use[0].Partition, use[1].Partition, use[2].Partition}, "then by partition")
		require.Equal(t, int64(1), use[0].Running+use[1].Running)
		require.Equal(t, int64(4), use[0].Waiting+use[1].Waiting)
		require.Equal(t, ql, use[2].Limit)
		require.Equal(t, int64(1), use[2].Running)
		require.Equal(t, int64(4), use[2].Waiting)
		require.False(t, use[2].NextStart.IsZero(), "a rate limit spent reports when the next may start")
	})
}

func keysOf(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
