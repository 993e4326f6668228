package redisstore

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func enqueuedJob(t testing.TB, opts ...func(*storage.Job)) *storage.Job {
	t.Helper()
	j := &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "t", Args: []byte(`{}`), Queue: "default", State: states.NameEnqueued,
		StateData: []byte(`{"queue":"default"}`), CreatedAt: time.Now()}
	for _, o := range opts {
		o(j)
	}
	return j
}

func TestBadInputIsRefusedWithAClearError(t *testing.T) {
	client := testClient(t)
	tests := []struct {
		name string
		call func(s *Store) error
		want error
	}{
		{"EmptyName", func(*Store) error {
			_, err := New(client, Name("")).Get(testCtx(t), uuid.New())
			return err
		}, ErrInvalidName},
		{"NameWithABrace", func(*Store) error {
			_, err := New(client, Name("a}b")).Fetch(testCtx(t), &storage.FetchParams{Queues: []string{"q"}, Limit: 1})
			return err
		}, ErrInvalidName},
		{"PriorityBeyondAnExactScore", func(s *Store) error {
			_, err := s.Create(testCtx(t), &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t, func(j *storage.Job) { j.Priority = 1 << 60 })}})
			return err
		}, ErrInvalidPriority},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(newStore(t, client))
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// Priorities span the whole range of taskflow's, in order, negative ones
// after the default.
func TestFetchOrdersExtremePriorities(t *testing.T) {
	s := newStore(t, testClient(t))
	var jobs []*storage.Job
	for _, p := range []int{0, 1<<31 - 1, -1 << 31, 5, -1} {
		jobs = append(jobs, enqueuedJob(t, func(j *storage.Job) { j.Priority = p }))
	}
	_, err := s.Create(testCtx(t), &storage.CreateParams{Jobs: jobs})
	require.NoError(t, err)
	got, err := s.Fetch(testCtx(t), &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "o", LeaseFor: time.Minute})
	require.NoError(t, err)
	var prios []int
	for _, j := range got {
		prios = append(prios, j.Priority)
	}
	require.Equal(t, []int{1<<31 - 1, 5, 0, -1, -1 << 31}, prios)
}

// Once finished jobs expire and are pruned, only the store's fixed keys
// are left: no job, index entry, unique key, batch, log or continuation
// outlives them.
func TestPrunedJobsLeaveNothingBehind(t *testing.T) {
	client := testClient(t)
	s := newStore(t, client)
	ctx := testCtx(t)
	batch := uuid.Must(uuid.NewV7())
	var jobs []*storage.Job
	for i := range 200 {
		jobs = append(jobs, enqueuedJob(t, func(j *storage.Job) {
			j.Queue = []string{"a", "b"}[i%2]
			j.UniqueKey = j.ID.String()
			j.BatchID = batch
		}))
	}
	parent := jobs[0]
	jobs = append(jobs, &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "t", Queue: "a", State: states.NameAwaiting,
		StateData: []byte(`{"parent_id":"` + batch.String() + `","on":"failure"}`), ParentID: batch, CreatedAt: time.Now()})
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
	require.NoError(t, err)
	require.NoError(t, s.AppendLogs(ctx, []storage.LogRecord{{JobID: parent.ID, Attempt: 1, At: time.Now(), Level: "INFO", Message: "m"}}))
	require.NoError(t, s.SetProgress(ctx, []storage.Progress{{JobID: parent.ID, Attempt: 1, Percent: 5, At: time.Now()}}))

	now := time.Now()
	for {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"a", "b"}, Limit: 64, Owner: "o", LeaseFor: time.Minute, Now: now})
		require.NoError(t, err)
		if len(got) == 0 {
			break
		}
		ts := make([]storage.Transition, len(got))
		for i, j := range got {
			ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: []byte(`{}`), ExpireAt: now.Add(time.Hour)}
		}
		errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts, Now: now, Retention: time.Hour})
		require.NoError(t, err)
		for _, e := range errs {
			require.NoError(t, e)
		}
	}
	n, err := s.DeleteExpired(ctx, &storage.PruneParams{Now: now.Add(2 * time.Hour), Limit: 1000})
	require.NoError(t, err)
	require.Equal(t, len(jobs), n, "every job, and the continuation deleted with the batch's success")

	keys, err := client.Keys(ctx, s.k.prefix+"*").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"seq", "tok", "xn", "stats", "statsidx"}, trimPrefix(keys, s.k.prefix))
}

// Values of any length round-trip, and a job whose values fit in pieces
// keeps Redis' compact hash encoding.
func TestValuesOfAnyLengthRoundTrip(t *testing.T) {
	client := testClient(t)
	for _, n := range []int{0, 1, 64, 65, 200, 512, 513, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := newStore(t, client)
			ctx := testCtx(t)
			long := func(n int, c byte) []byte { return []byte(`"` + strings.Repeat(string(c), max(n-2, 0)) + `"`)[:n] }
			j := enqueuedJob(t, func(j *storage.Job) { j.Args = long(n, 'a'); j.StateData = long(n, 'd') })
			_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
			require.NoError(t, err)
			if n <= 256 { // the history entry, with its state, time and reason, fits in eight pieces
				enc, err := client.ObjectEncoding(ctx, s.k.job(j.ID)).Result()
				require.NoError(t, err)
				require.Equal(t, "listpack", enc)
			}
			f, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "o", LeaseFor: time.Minute})
			require.NoError(t, err)
			require.Len(t, f, 1)
			require.Equal(t, j.Args, f[0].Args)
			// Back to Enqueued with short data, then with data of the same length.
			for _, data := range [][]byte{[]byte(`{}`), long(n, 'e')} {
				errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{{ID: j.ID, To: states.NameEnqueued, Data: data}}})
				require.NoError(t, err)
				require.NoError(t, errs[0])
				got, err := s.Get(ctx, j.ID)
				require.NoError(t, err)
				require.Equal(t, data, got.StateData)
			}
			got, err := s.Get(ctx, j.ID)
			require.NoError(t, err)
			require.Equal(t, j.Args, got.Args)
			var hist []string
			for _, h := range got.History {
				hist = append(hist, string(h.Data))
			}
			require.Equal(t, []string{string(long(n, 'd')), string(f[0].StateData), `{}`, string(long(n, 'e'))}, hist)
		})
	}
}

// Calls far larger than Lua can unpack at once (about 8,000 values) work:
// scripts apply sorted-set writes in slices.
func TestHugeBatches(t *testing.T) {
	s := newStore(t, testClient(t))
	ctx := testCtx(t)
	const n = 20_000
	jobs := make([]*storage.Job, n)
	for i := range jobs {
		jobs[i] = enqueuedJob(t)
	}
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
	require.NoError(t, err)
	got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "o", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, got, n)
	for i := range got { // leased in several calls (maxFetchPerCall), in the queue's order
		require.Equal(t, jobs[i].ID, got[i].ID, "job %d", i)
	}
	ts := make([]storage.Transition, n)
	for i, j := range got {
		ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: []byte(`{}`), ExpireAt: time.Now()}
	}
	errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
	require.NoError(t, err)
	for _, e := range errs {
		require.NoError(t, e)
	}
	removed, err := s.DeleteExpired(ctx, &storage.PruneParams{Limit: n})
	require.NoError(t, err)
	require.Equal(t, n, removed)
}

// A Create of more jobs than one call checks at once (4,000) fails whole
// when one of them, past the first slice, is already stored.
func TestHugeBatchWithAStoredJobStoresNothing(t *testing.T) {
	s := newStore(t, testClient(t))
	ctx := testCtx(t)
	stored := enqueuedJob(t)
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{stored}})
	require.NoError(t, err)
	jobs := make([]*storage.Job, 5_000)
	for i := range jobs {
		jobs[i] = enqueuedJob(t)
	}
	again := *stored
	jobs[4_500] = &again
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: jobs})
	require.ErrorIs(t, err, storage.ErrDuplicate)
	require.ErrorContains(t, err, stored.ID.String())
	for _, j := range []*storage.Job{jobs[0], jobs[4_499], jobs[4_999]} {
		_, err = s.Get(ctx, j.ID)
		require.ErrorIs(t, err, storage.ErrNotFound)
	}
	got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "o", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, got, 1, "only the job stored before is fetchable")
}

// A queue that no job is in any more is forgotten as its last job leaves
// it, without waiting for ListQueues; one of Processing jobs only, by
// ListQueues, until its jobs come back.
func TestQueuesAreForgottenWhenEmpty(t *testing.T) {
	client := testClient(t)
	s := newStore(t, client)
	ctx := testCtx(t)
	gone, busy := enqueuedJob(t, func(j *storage.Job) { j.Queue = "gone" }), enqueuedJob(t, func(j *storage.Job) { j.Queue = "busy" })
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{gone, busy}})
	require.NoError(t, err)
	f, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"gone", "busy"}, Limit: 2, Owner: "o", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, f, 2)
	errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{
		{ID: gone.ID, To: states.NameSucceeded, Data: []byte(`{}`), ExpireAt: time.Now()}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	_, err = s.DeleteExpired(ctx, &storage.PruneParams{Limit: 10})
	require.NoError(t, err)
	members := func() []string {
		m, err := client.SMembers(ctx, s.k.prefix+"queues").Result()
		require.NoError(t, err)
		return m
	}
	require.Equal(t, []string{"busy"}, members(), "the queue of the pruned job is forgotten with it")

	list, err := s.ListQueues(ctx)
	require.NoError(t, err)
	require.Empty(t, list)
	require.Empty(t, members(), "a queue of Processing jobs only is forgotten until they come back")
	// The busy queue's job comes back to it, and the queue is listed.
	errs, err = s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{
		{ID: busy.ID, To: states.NameEnqueued, Data: []byte(`{}`)}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	list, err = s.ListQueues(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "busy", list[0].Name)
}

// Expiring final jobs are filed in buckets of at most 128 entries; pruning
// removes exactly the jobs whose expiry has come, in calls of any limit,
// and skips the entries of jobs that moved on or expire later since.
func TestPruneRemovesExactlyTheDueJobs(t *testing.T) {
	client := testClient(t)
	s := newStore(t, client)
	ctx := testCtx(t)
	now := time.Now()
	const n = 300
	var jobs []*storage.Job
	for range n {
		jobs = append(jobs, enqueuedJob(t))
	}
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
	require.NoError(t, err)
	f, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "o", LeaseFor: time.Minute, Now: now})
	require.NoError(t, err)
	require.Len(t, f, n)
	// Job i expires after i minutes, filed in three calls in reverse order.
	expiry := func(i int) time.Time { return now.Add(time.Duration(i+1) * time.Minute) }
	for lo := 0; lo < n; lo += 128 {
		var ts []storage.Transition
		for i := min(lo+128, n) - 1; i >= lo; i-- {
			ts = append(ts, storage.Transition{ID: f[i].ID, Token: f[i].LeaseToken, To: states.NameSucceeded, Data: []byte(`{}`), ExpireAt: expiry(i)})
		}
		errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts, Now: now})
		require.NoError(t, err)
		for _, e := range errs {
			require.NoError(t, e)
		}
	}
	// Job 0 is requeued (its entry stays) and succeeds again, to expire last.
	moved := f[0].ID
	for _, to := range []states.Name{states.NameEnqueued, states.NameSucceeded} {
		errs, err := s.Transition(ctx, &storage.TransitionParams{Now: now, Transitions: []storage.Transition{
			{ID: moved, To: to, Data: []byte(`{}`), ExpireAt: expiry(n)}}})
		require.NoError(t, err)
		require.NoError(t, errs[0])
	}
	buckets, err := client.Keys(ctx, s.k.prefix+"x:*").Result()
	require.NoError(t, err)
	require.Len(t, buckets, 3, "301 entries in buckets of 128")
	for _, b := range buckets {
		enc, err := client.ObjectEncoding(ctx, b).Result()
		require.NoError(t, err)
		require.Equal(t, "listpack", enc, b)
	}
	tests := []struct {
		at          time.Time
		limit, want int
	}{
		{expiry(0), 10, 0},    // job 0 moved on: its first expiry is no longer its own
		{expiry(99), 50, 50},  // jobs 1..50
		{expiry(99), 500, 49}, // jobs 51..99
		{expiry(99), 500, 0},
		{expiry(n - 1), 1000, n - 100}, // the rest but job 0
		{expiry(n), 1000, 1},
	}
	for i, tc := range tests {
		got, err := s.DeleteExpired(ctx, &storage.PruneParams{Now: tc.at, Limit: tc.limit})
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "prune %d", i)
	}
	keys, err := client.Keys(ctx, s.k.prefix+"x*").Result()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"xn"}, trimPrefix(keys, s.k.prefix))
}

// Stores written before the expiry buckets kept expiring jobs in one sorted
// set, exp; pruning still removes them, and the set with its last entry.
func TestPruneReadsTheSingleExpirySetOfEarlierStores(t *testing.T) {
	client := testClient(t)
	s := newStore(t, client)
	ctx := testCtx(t)
	now := time.Now()
	j := enqueuedJob(t)
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
	require.NoError(t, err)
	f, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "o", LeaseFor: time.Minute, Now: now})
	require.NoError(t, err)
	require.Len(t, f, 1)
	at := now.Add(time.Minute)
	errs, err := s.Transition(ctx, &storage.TransitionParams{Now: now, Transitions: []storage.Transition{
		{ID: j.ID, Token: f[0].LeaseToken, To: states.NameSucceeded, Data: []byte(`{}`), ExpireAt: at}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	// Filed as an earlier store filed it.
	buckets, err := client.Keys(ctx, s.k.prefix+"x:*").Result()
	require.NoError(t, err)
	require.NoError(t, client.Del(ctx, append(buckets, s.k.prefix+"xb")...).Err())
	require.NoError(t, client.ZAdd(ctx, s.k.prefix+"exp", redis.Z{Score: float64(at.UnixMicro()), Member: j.ID.String()}).Err())

	for _, tc := range []struct {
		at   time.Time
		want int
	}{{now, 0}, {at, 1}} {
		n, err := s.DeleteExpired(ctx, &storage.PruneParams{Now: tc.at, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, tc.want, n, "pruned at %v", tc.at)
	}
	_, err = s.Get(ctx, j.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	n, err := client.Exists(ctx, s.k.prefix+"exp").Result()
	require.NoError(t, err)
	require.Zero(t, n)
}

// TestFIFOAcrossSequenceWidths: jobs enqueued as the enqueue sequence
// passes 10^15 keep their order and are all fetched, and a queue entry
// whose job is not Enqueued is never leased.
func TestFIFOAcrossSequenceWidths(t *testing.T) {
	client := testClient(t)
	s := newStore(t, client)
	ctx := testCtx(t)
	require.NoError(t, client.Set(ctx, s.k.seq(), 999_999_999_999_990, 0).Err())
	var want []string
	for range 3 { // one call each
		j := enqueuedJob(t)
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
		require.NoError(t, err)
		want = append(want, j.ID.String())
	}
	stray := enqueuedJob(t)
	require.NoError(t, client.ZAdd(ctx, s.k.prefix+"q:default", redis.Z{Score: -1, Member: "0000000000000001" + stray.ID.String()}).Err())
	jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Minute})
	require.NoError(t, err)
	var got []string
	for _, j := range jobs {
		got = append(got, j.ID.String())
	}
	require.Equal(t, want, got, "first in, first out, and no stray entry leased")
}

// A job keeps its latest MaxLogRecords log records, in order, however
// they come.
func TestJobLogsKeepTheLatestRecords(t *testing.T) {
	client := testClient(t)
	for _, tt := range []struct {
		name  string
		calls []int // records appended per call
	}{
		{"FewerThanTheCap", []int{10, 5}},
		{"OneLargeCall", []int{MaxLogRecords + 250}},
		{"ManyCalls", []int{600, 600, 1, 300}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, client)
			ctx := testCtx(t)
			job := enqueuedJob(t)
			_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{job}})
			require.NoError(t, err)
			total := 0
			for _, n := range tt.calls {
				recs := make([]storage.LogRecord, n)
				for i := range recs {
					recs[i] = storage.LogRecord{JobID: job.ID, Attempt: 1, At: time.Now(), Level: "INFO", Message: strconv.Itoa(total)}
					total++
				}
				require.NoError(t, s.AppendLogs(ctx, recs))
			}
			got, _, err := s.JobLogs(ctx, job.ID)
			require.NoError(t, err)
			require.Len(t, got, min(total, MaxLogRecords))
			for i, r := range got {
				require.Equal(t, strconv.Itoa(total-len(got)+i), r.Message, "record %d", i)
			}
		})
	}
}

// The monitoring queries read a store larger than a page of theirs right,
// and no command of theirs, in a script or not, reads more than a page of
// a set.
func TestListingsOfAStoreLargerThanAPage(t *testing.T) {
	client := testClient(t)
	s := newStore(t, client)
	ctx := testCtx(t)
	const n = 3*page + 17
	var jobs []*storage.Job
	byTask := map[string][]string{}
	batch := uuid.Must(uuid.NewV7())
	for i := range n {
		j := enqueuedJob(t, func(j *storage.Job) {
			j.Queue = fmt.Sprintf("q%d", i%3)
			j.Task = []string{"a", "b"}[i%2]
			j.BatchID = batch
		})
		jobs = append(jobs, j)
		byTask[j.Task] = append(byTask[j.Task], j.ID.String())
	}
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
	require.NoError(t, err)
	// A third of them Processing, a third of those Succeeded.
	f, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"q0", "q1", "q2"}, Limit: n / 3, Owner: "o", LeaseFor: time.Minute})
	require.NoError(t, err)
	var ts []storage.Transition
	for _, j := range f[:len(f)/3] {
		ts = append(ts, storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: []byte(`{}`)})
	}
	_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
	require.NoError(t, err)
	newest := func(ids []string) []string {
		out := slices.Clone(ids)
		slices.Sort(out)
		slices.Reverse(out)
		return out
	}
	all := make([]string, n)
	for i, j := range jobs {
		all[i] = j.ID.String()
	}
	fetched := map[string]bool{}
	var processingQ0 []string
	for _, j := range f {
		fetched[j.ID.String()] = true
		if j.Queue == "q0" && !slices.ContainsFunc(ts, func(tr storage.Transition) bool { return tr.ID == j.ID }) {
			processingQ0 = append(processingQ0, j.ID.String())
		}
	}
	var enqueued, succeeded []string // enqueued in the order they were enqueued
	for _, id := range all {
		if !fetched[id] {
			enqueued = append(enqueued, id)
		}
	}
	for _, tr := range ts {
		succeeded = append(succeeded, tr.ID.String())
	}
	watched := monitor(t, client)
	for _, tt := range []struct {
		name string
		p    storage.ListParams
		want []string
	}{
		{"EveryJob", storage.ListParams{}, newest(all)},
		{"EveryJobPaged", storage.ListParams{Offset: page + 3, Limit: 20}, newest(all)[page+3 : page+23]},
		{"Task", storage.ListParams{Task: "b", Offset: 10, Limit: page}, newest(byTask["b"])[10 : 10+page]},
		{"StateAndQueue", storage.ListParams{State: states.NameProcessing, Queue: "q0", Limit: 5}, newest(processingQ0)[:5]},
		{"Batch", storage.ListParams{BatchID: batch, Offset: 2 * page, Limit: page}, newest(all)[2*page : 3*page]},
		{"Enqueued", storage.ListParams{State: states.NameEnqueued, Offset: page, Limit: 30}, enqueued[page : page+30]},
	} {
		got, err := s.List(ctx, &tt.p)
		require.NoError(t, err, tt.name)
		require.Equal(t, tt.want, idsOf(got), tt.name)
	}
	// Walked by cursor, a page at a time, both ways.
	for _, tt := range []struct {
		name string
		p    storage.ListParams
		want []string
	}{
		{"EveryJob", storage.ListParams{}, newest(all)},
		{"Enqueued", storage.ListParams{State: states.NameEnqueued}, enqueued},
		{"EnqueuedOfAQueue", storage.ListParams{State: states.NameEnqueued, Queue: "q1"}, slices.DeleteFunc(slices.Clone(enqueued), func(id string) bool {
			return !slices.ContainsFunc(jobs, func(j *storage.Job) bool { return j.ID.String() == id && j.Queue == "q1" })
		})},
		{"Succeeded", storage.ListParams{State: states.NameSucceeded}, newest(succeeded)},
		{"Task", storage.ListParams{Task: "a"}, newest(byTask["a"])},
		{"Batch", storage.ListParams{BatchID: batch}, newest(all)},
		{"ProcessingOfAQueue", storage.ListParams{State: states.NameProcessing, Queue: "q0"}, newest(processingQ0)},
	} {
		for _, backward := range []bool{false, true} {
			var ids []string
			p := tt.p
			p.Limit, p.Backward = 97, backward
			for {
				got, err := s.List(ctx, &p)
				require.NoError(t, err, tt.name)
				ids = append(ids, idsOf(got)...)
				if len(got) < p.Limit {
					break
				}
				p.Cursor = got[len(got)-1].Cursor
			}
			if backward {
				slices.Reverse(ids)
			}
			require.Equal(t, tt.want, ids, "%s backward=%v", tt.name, backward)
		}
	}
	c, err := s.Count(ctx, "")
	require.NoError(t, err)
	require.Equal(t, int64(n), c[states.NameEnqueued]+c[states.NameProcessing]+c[states.NameSucceeded])
	require.Equal(t, int64(len(ts)), c[states.NameSucceeded])
	require.Equal(t, int64(len(f)-len(ts)), c[states.NameProcessing])
	progress, err := s.BatchProgress(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, map[states.Name]int64{states.NameEnqueued: c[states.NameEnqueued], states.NameProcessing: c[states.NameProcessing],
		states.NameSucceeded: c[states.NameSucceeded]}, progress)
	c1, err := s.Count(ctx, "q1")
	require.NoError(t, err)
	inQ1 := int64(0)
	for _, j := range jobs {
		if j.Queue == "q1" {
			inQ1++
		}
	}
	require.Equal(t, inQ1, c1[states.NameEnqueued]+c1[states.NameProcessing]+c1[states.NameSucceeded])
	// No command, of a script or not, read a whole set of the store, or
	// more than a page of one.
	for _, line := range watched() {
		f := strings.Fields(strings.ToLower(line))
		if len(f) < 5 || !strings.Contains(line, s.k.prefix) {
			continue
		}
		cmd, args := strings.Trim(f[3], `"`), f[4:]
		for i := range args {
			args[i] = strings.Trim(args[i], `"`)
		}
		switch cmd {
		case "smembers", "sunion":
			t.Errorf("a whole set read: %s", line)
		case "zrangebylex", "zrevrangebylex", "zrangebyscore", "zrevrangebyscore":
			// key min max LIMIT offset count
			require.True(t, len(args) == 6 && args[3] == "limit", "a whole set read: %s", line)
			n, _ := strconv.Atoi(args[5])
			require.True(t, n > 0 && n <= page, "%s", line)
		case "zrange", "zrevrange":
			lo, _ := strconv.Atoi(args[1])
			hi, _ := strconv.Atoi(args[2])
			require.True(t, hi >= lo && hi-lo < page, "%s", line)
		}
	}
}

// monitor records the commands client's server runs (MONITOR), those of
// scripts included, until the returned function is called, which returns
// them.
func monitor(t *testing.T, client redis.UniversalClient) func() []string {
	conn, err := net.Dial("tcp", client.(*redis.Client).Options().Addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = conn.Write([]byte("MONITOR\r\n"))
	require.NoError(t, err)
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	require.True(t, sc.Scan())
	require.Equal(t, "+OK", sc.Text())
	return func() []string {
		// The commands made so far reach the monitor before this one.
		const end = "end-of-the-monitored-commands"
		require.NoError(t, client.Echo(context.Background(), end).Err())
		var got []string
		for sc.Scan() && !strings.Contains(sc.Text(), end) {
			got = append(got, sc.Text())
		}
		require.NoError(t, sc.Err())
		return got
	}
}

// A batch whose every job was held back by its unique key leaves nothing
// of itself behind, whether a continuation of it comes in the same call or
// later.
func TestBatchOfHeldBackJobsLeavesNoKeys(t *testing.T) {
	client := testClient(t)
	s := newStore(t, client)
	ctx := testCtx(t)
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t, func(j *storage.Job) { j.UniqueKey = "k" })}})
	require.NoError(t, err)
	batch := uuid.Must(uuid.NewV7())
	held := func() *storage.Job {
		return enqueuedJob(t, func(j *storage.Job) { j.UniqueKey, j.BatchID = "k", batch })
	}
	continuation := func() *storage.Job {
		return enqueuedJob(t, func(j *storage.Job) {
			j.State, j.ParentID, j.StateData = states.NameAwaiting, batch, []byte(`{"parent_id":"`+batch.String()+`","on":"success"}`)
		})
	}
	for _, calls := range [][][]*storage.Job{
		{{held(), continuation()}},
		{{held()}, {continuation()}},
	} {
		for i, jobs := range calls {
			_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
			if i == len(calls)-1 {
				require.ErrorIs(t, err, storage.ErrNotFound)
			} else {
				require.NoError(t, err)
			}
		}
	}
	keys, err := client.Keys(ctx, s.k.prefix+"*").Result()
	require.NoError(t, err)
	for _, k := range trimPrefix(keys, s.k.prefix) {
		require.NotRegexp(t, `^(b|bm|aw):|^batches$`, k, "a key of the batch")
	}
}

// idsOf returns the IDs of jobs, in order.
func idsOf(jobs []*storage.Job) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID.String()
	}
	return ids
}

// listerStore is a store that lists its jobs: a Store or a Sharded.
type listerStore interface {
	storage.Store
	storage.Lister
}

// Lists filtered by what their index does not tell (a queue of the sched
// set, a task, a batch, a parent) walk by cursor, both ways, in the
// list's order, on a plain and a sharded store.
func TestFilteredListsWalkByCursor(t *testing.T) {
	client := testClient(t)
	for _, store := range []struct {
		name string
		new  func(t *testing.T) listerStore
	}{
		{"Plain", func(t *testing.T) listerStore { return newStore(t, client) }},
		{"Sharded", func(t *testing.T) listerStore { return newShardedStore(t, client, 3) }},
	} {
		t.Run(store.name, func(t *testing.T) {
			s := store.new(t)
			ctx := testCtx(t)
			batch := uuid.Must(uuid.NewV7())
			base := time.Now().Add(time.Hour).Truncate(time.Second)
			var scheduled, enqueued, continuations []*storage.Job
			create := func(j *storage.Job) { // one a call: each enqueued after the one before
				_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
				require.NoError(t, err)
			}
			for i, h := range []int{5, 1, 3, 1, 4, 2, 9, 3, 7, 0} {
				j := enqueuedJob(t, func(j *storage.Job) {
					at := base.Add(time.Duration(h) * time.Hour)
					j.Queue, j.Task = []string{"a", "b"}[i%2], []string{"x", "y", "y"}[i%3]
					j.State, j.RunAt = states.NameScheduled, at
					j.StateData, _ = states.Marshal(states.Scheduled{EnqueueAt: at, ScheduledAt: j.CreatedAt, Reason: "delayed"})
				})
				create(j)
				scheduled = append(scheduled, j)
			}
			parent := scheduled[0].ID
			for i, prio := range []int{0, 1, 0, 2, 1, 0, 0, 1, 2, 0, 1} {
				j := enqueuedJob(t, func(j *storage.Job) {
					j.Queue, j.Task, j.Priority = []string{"a", "b"}[i%2], []string{"x", "y", "y"}[i%3], prio
					if i%3 != 1 {
						j.BatchID = batch
					}
				})
				create(j)
				enqueued = append(enqueued, j)
			}
			for i := range 5 {
				j := enqueuedJob(t, func(j *storage.Job) {
					j.Task = []string{"x", "y"}[i%2]
					j.State, j.ParentID = states.NameAwaiting, parent
					j.StateData, _ = states.Marshal(states.Awaiting{ParentID: parent.String(), On: states.OnSuccess})
				})
				create(j)
				continuations = append(continuations, j)
			}
			where := func(jobs []*storage.Job, keep func(*storage.Job) bool) []*storage.Job {
				return slices.DeleteFunc(slices.Clone(jobs), func(j *storage.Job) bool { return !keep(j) })
			}
			byDue := func(jobs []*storage.Job) []*storage.Job {
				return slices.SortedStableFunc(slices.Values(jobs), func(a, b *storage.Job) int {
					return cmp.Or(a.RunAt.Compare(b.RunAt), strings.Compare(a.ID.String(), b.ID.String()))
				})
			}
			byFetch := func(jobs []*storage.Job) []*storage.Job {
				return slices.SortedStableFunc(slices.Values(jobs), func(a, b *storage.Job) int { return b.Priority - a.Priority })
			}
			newest := func(jobs []*storage.Job) []*storage.Job {
				return slices.SortedFunc(slices.Values(jobs), func(a, b *storage.Job) int { return strings.Compare(b.ID.String(), a.ID.String()) })
			}
			inBatch := func(j *storage.Job) bool { return j.BatchID == batch }
			for _, tt := range []struct {
				name string
				p    storage.ListParams
				want []*storage.Job
			}{
				{"ScheduledOfAQueue", storage.ListParams{State: states.NameScheduled, Queue: "b"}, byDue(where(scheduled, func(j *storage.Job) bool { return j.Queue == "b" }))},
				{"ScheduledOfATask", storage.ListParams{State: states.NameScheduled, Task: "y"}, byDue(where(scheduled, func(j *storage.Job) bool { return j.Task == "y" }))},
				{"EnqueuedOfATask", storage.ListParams{State: states.NameEnqueued, Task: "x"}, byFetch(where(enqueued, func(j *storage.Job) bool { return j.Task == "x" }))},
				{"EnqueuedOfABatch", storage.ListParams{State: states.NameEnqueued, BatchID: batch}, byFetch(where(enqueued, inBatch))},
				{"ABatch", storage.ListParams{BatchID: batch}, newest(where(enqueued, inBatch))},
				{"ContinuationsOfAJob", storage.ListParams{ParentID: parent}, newest(continuations)},
				{"ContinuationsOfATask", storage.ListParams{State: states.NameAwaiting, ParentID: parent, Task: "y"}, newest(where(continuations, func(j *storage.Job) bool { return j.Task == "y" }))},
				{"EveryStateOfATask", storage.ListParams{Task: "x"}, newest(where(slices.Concat(scheduled, enqueued, continuations), func(j *storage.Job) bool { return j.Task == "x" }))},
			} {
				want := idsOf(tt.want)
				require.NotEmpty(t, want, tt.name)
				for _, backward := range []bool{false, true} {
					p := tt.p
					p.Limit, p.Backward = 2, backward
					var ids []string
					for range len(want) + 1 {
						got, err := s.List(ctx, &p)
						require.NoError(t, err, tt.name)
						ids = append(ids, idsOf(got)...)
						if len(got) < p.Limit {
							break
						}
						p.Cursor = got[len(got)-1].Cursor
					}
					if backward {
						slices.Reverse(ids)
					}
					require.Equal(t, want, ids, "%s backward=%v", tt.name, backward)
				}
			}
		})
	}
}
