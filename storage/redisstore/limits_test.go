package redisstore

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Once the jobs of queues served by partition, under concurrency limits,
// have run and been pruned, only the store's fixed keys and its limits are
// left: no partition set, ring, count or stale mark of a partitioned queue.
func TestPartitionedJobsLeaveNothingBehind(t *testing.T) {
	client := testClient(t)
	ctx := testCtx(t)
	tests := []struct {
		name   string
		limits []storage.Limit
		left   []string
	}{
		{"NoLimit", nil, nil},
		{"Concurrency", []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Concurrency: 2},
			{Scope: storage.ScopeQueue, Name: "a", Concurrency: 7}}, []string{"lim"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, client)
			if tc.limits != nil {
				require.NoError(t, s.SetLimits(ctx, tc.limits))
			}
			var jobs []*storage.Job
			for i := range 60 {
				jobs = append(jobs, enqueuedJob(t, func(j *storage.Job) {
					j.Queue = []string{"a", "b"}[i%2]
					if i%3 > 0 {
						j.Partition = strconv.Itoa(i % 5)
					}
				}))
			}
			_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
			require.NoError(t, err)
			now := time.Now()
			done := 0
			for {
				got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"a", "b"}, Limit: 8, Owner: "o", LeaseFor: time.Minute, Now: now})
				require.NoError(t, err)
				if len(got) == 0 {
					break
				}
				ts := make([]storage.Transition, len(got))
				for i, j := range got {
					ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: []byte(`{}`), ExpireAt: now.Add(time.Hour)}
				}
				_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: ts, Now: now})
				require.NoError(t, err)
				done += len(got)
			}
			require.Equal(t, len(jobs), done, "jobs left behind")
			n, err := s.DeleteExpired(ctx, &storage.PruneParams{Now: now.Add(2 * time.Hour), Limit: 1000})
			require.NoError(t, err)
			require.Equal(t, len(jobs), n)
			keys, err := client.Keys(ctx, s.k.prefix+"*").Result()
			require.NoError(t, err)
			require.ElementsMatch(t, append([]string{"seq", "tok", "xn", "stats", "statsidx"}, tc.left...), trimPrefix(keys, s.k.prefix))
		})
	}
}

// A queue whose jobs were filed plain is served by partition from its
// first partitioned job on, its earlier jobs included: round robin between
// them, none lost.
func TestQueueTurnsToPartitionsWithItsJobs(t *testing.T) {
	s := newStore(t, testClient(t))
	ctx := testCtx(t)
	var jobs []*storage.Job
	for i := range 12 {
		jobs = append(jobs, enqueuedJob(t, func(j *storage.Job) {
			if i >= 10 {
				j.Partition = "late"
			}
		}))
	}
	for _, j := range jobs { // one call each: the plain ones are filed before the first partitioned one
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
		require.NoError(t, err)
	}
	fetch := func(n int) []*storage.Job {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "o", LeaseFor: time.Minute})
		require.NoError(t, err)
		return got
	}
	first := fetch(4)
	parts := map[string]int{}
	for _, j := range first {
		parts[j.Partition]++
	}
	require.Equal(t, map[string]int{"": 2, "late": 2}, parts, "the partitions were not served round robin")
	require.Len(t, fetch(20), 8, "jobs were lost on the way")
}

// On a sharded store, jobs with a partition key or under a stored limit
// are created on shard 0, beside the limits; others spread.
func TestShardedLimitedJobsLiveOnShard0(t *testing.T) {
	client := testClient(t)
	ctx := testCtx(t)
	s := newShardedStore(t, client, 3)
	require.NoError(t, s.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopeQueue, Name: "limited", Concurrency: 5}}))
	tests := []struct {
		name   string
		job    func(j *storage.Job)
		shard0 bool
	}{
		{"Partition", func(j *storage.Job) { j.Partition = "p" }, true},
		{"LimitedQueue", func(j *storage.Job) { j.Queue = "limited" }, true},
		{"Free", func(*storage.Job) {}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			on0 := 0
			for range 12 {
				j := enqueuedJob(t, tc.job)
				_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
				require.NoError(t, err)
				at, err := s.locate(ctx, []uuid.UUID{j.ID})
				require.NoError(t, err)
				if at[0] == 0 {
					on0++
				}
			}
			if tc.shard0 {
				require.Equal(t, 12, on0)
			} else {
				require.Less(t, on0, 12, "free jobs did not spread")
			}
		})
	}
}

// A partitioned job moved to another queue while Enqueued leaves its old
// queue's partition: a fetch of the old queue, which keeps a job, does not
// lease it.
func TestPartitionedJobMovedToAnotherQueue(t *testing.T) {
	s := newStore(t, testClient(t))
	ctx := testCtx(t)
	j := enqueuedJob(t, func(j *storage.Job) { j.Partition = "p" })
	stays := enqueuedJob(t, func(j *storage.Job) { j.Priority = -1 })
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j, stays}})
	require.NoError(t, err)
	errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{{ID: j.ID,
		From: []states.Name{states.NameEnqueued}, To: states.NameEnqueued, Queue: "other", Data: []byte(`{"queue":"other"}`)}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	fetch := func(q string) []*storage.Job {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{q}, Limit: 5, Owner: "o", LeaseFor: time.Minute})
		require.NoError(t, err)
		return got
	}
	require.Equal(t, []uuid.UUID{stays.ID}, []uuid.UUID{fetch("default")[0].ID}, "leased from the queue it left")
	require.Len(t, fetch("other"), 1)
}

// A partition whose first job left Enqueued other than by a fetch (here,
// deleted) is placed in the ring by its next job: a fetch of higher
// priorities only does not lease that job.
func TestPartitionRingFollowsItsFirstJob(t *testing.T) {
	s := newStore(t, testClient(t))
	ctx := testCtx(t)
	urgent := enqueuedJob(t, func(j *storage.Job) { j.Partition, j.Priority = "p", 5 })
	later := enqueuedJob(t, func(j *storage.Job) { j.Partition = "p" })
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{urgent, later}})
	require.NoError(t, err)
	errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{{ID: urgent.ID,
		From: []states.Name{states.NameEnqueued}, To: states.NameDeleted, Data: []byte(`{}`)}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	fetch := func(above *storage.Position) []*storage.Job {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 5, Owner: "o", LeaseFor: time.Minute, Above: above})
		require.NoError(t, err)
		return got
	}
	require.Empty(t, fetch(&storage.Position{Queue: "default", Priority: 3}), "a job below the priorities fetched was leased")
	got := fetch(nil)
	require.Len(t, got, 1)
	require.Equal(t, later.ID, got[0].ID)
}

// A partition limit's total of leased jobs, which lets a fetch pass over a
// limit that cannot bind, is the count of its leased jobs through fetches
// that the limit binds and fetches it cannot bind, completions, reclaimed
// leases and a new SetLimits; while a fetch could find a partition full,
// the partitions' counters are kept, each its count of leased jobs, and no
// partition holds more than the limit.
func TestPartitionLimitTotalIsTheSumOfItsCounts(t *testing.T) {
	client := testClient(t)
	ctx := testCtx(t)
	s := newStore(t, client)
	const limit = 6
	limits := []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Concurrency: limit}}
	require.NoError(t, s.SetLimits(ctx, limits))
	var jobs []*storage.Job
	for i := range 80 {
		jobs = append(jobs, enqueuedJob(t, func(j *storage.Job) { j.Partition = strconv.Itoa(i % 4) }))
	}
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
	require.NoError(t, err)
	const total, kept = "\x1fpartition:t", "\x1f\x1fpartition:t"
	check := func(step string, wantKept bool) {
		t.Helper()
		counts, err := client.HGetAll(ctx, s.k.prefix+"lrun").Result()
		require.NoError(t, err)
		usage, err := s.LimitUsage(ctx)
		require.NoError(t, err)
		want, sum := map[string]string{}, int64(0)
		for _, u := range usage {
			if u.Running > 0 {
				require.LessOrEqual(t, u.Running, int64(limit), "%s: partition %q over the limit", step, u.Partition)
				want["partition:t\x1f"+u.Partition] = strconv.FormatInt(u.Running, 10)
				sum += u.Running
			}
		}
		if !wantKept {
			want = map[string]string{}
		}
		if sum > 0 {
			want[total] = strconv.FormatInt(sum, 10)
		}
		if wantKept && sum > 0 {
			want[kept] = "1"
		}
		require.Equal(t, want, counts, "%s", step)
	}
	now := time.Now()
	fetch := func(n int, at time.Time) []*storage.Job {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "o", LeaseFor: time.Minute, Now: at})
		require.NoError(t, err)
		return got
	}
	complete := func(got []*storage.Job) {
		ts := make([]storage.Transition, len(got))
		for i, j := range got {
			ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: []byte(`{}`)}
		}
		errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts, Now: now})
		require.NoError(t, err)
		for _, e := range errs {
			require.NoError(t, e)
		}
	}
	// Fetches of 2 cannot bind a limit of 6 per partition while fewer than
	// 4 jobs are leased in all; later ones are checked job by job.
	var leased []*storage.Job
	for i := range 8 {
		leased = append(leased, fetch(2, now)...)
		check("fetch of 2", i >= 2)
	}
	require.Len(t, leased, 16, "a limit of 6 on each of 4 partitions held back one of 16 jobs")
	more := fetch(50, now)
	require.Len(t, more, 4*limit-16, "not the limit's jobs leased")
	check("fetch of 50", true)
	leased = append(leased, more...)
	complete(leased[:5])
	check("completions", true)
	n, err := s.ReclaimExpired(ctx, &storage.ReclaimParams{Now: now.Add(2 * time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, 10, n)
	check("reclaim", true)
	require.NoError(t, s.SetLimits(ctx, limits))
	check("SetLimits", true)
	// With nothing leased the counters are no longer kept, until a fetch
	// could find a partition full: fetches of 3 cannot.
	n, err = s.ReclaimExpired(ctx, &storage.ReclaimParams{Now: now.Add(2 * time.Minute), Limit: 100})
	require.NoError(t, err)
	require.Equal(t, len(leased)-5-10, n)
	check("reclaim the rest", false)
	done := 5
	for got := fetch(3, now.Add(3*time.Minute)); len(got) > 0; got = fetch(3, now.Add(3*time.Minute)) {
		check("fetch of 3", false)
		complete(got)
		check("completions", false)
		done += len(got)
	}
	require.Equal(t, len(jobs), done)
}

// The pruner drops the GCRA times past by storage.RateTimeKept, and only those: a
// partition rate limit leaves one per partition, which would stay for ever.
func TestPrunerDropsPastRateTimes(t *testing.T) {
	client := testClient(t)
	ctx := testCtx(t)
	s := newStore(t, client)
	now := time.Now()
	require.NoError(t, s.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopePartition, Name: "t", Rate: 1, Period: time.Minute}}))
	for _, p := range []string{"a", "b", "c"} {
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t, func(j *storage.Job) { j.Partition = p })}})
		require.NoError(t, err)
	}
	jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Hour, Now: now})
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	times := func() int64 {
		n, err := client.HLen(ctx, s.k.prefix+"ltat").Result()
		require.NoError(t, err)
		return n
	}
	require.EqualValues(t, 3, times())
	_, err = s.DeleteExpired(ctx, &storage.PruneParams{Now: now.Add(30 * time.Second), Limit: 100})
	require.NoError(t, err)
	require.EqualValues(t, 3, times(), "times not yet past by RateTimeKept were dropped")
	_, err = s.DeleteExpired(ctx, &storage.PruneParams{Now: now.Add(time.Minute + storage.RateTimeKept), Limit: 100})
	require.NoError(t, err)
	require.Zero(t, times(), "past times were kept")
}
