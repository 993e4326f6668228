package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func testNotifier(t *testing.T, newStore NewStore) {
	recurring := func(t *testing.T, s storage.Store) storage.Recurring {
		r, ok := s.(storage.Recurring)
		if !ok {
			t.Skip("store does not implement storage.Recurring")
		}
		return r
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, s storage.Store)
		cause func(t *testing.T, s storage.Store)
		want  storage.Topic
	}{
		{"CreateEnqueued", nil, func(t *testing.T, s storage.Store) { create(t, s, newJob(t)) }, storage.TopicEnqueued},
		{"CreateScheduled", nil, func(t *testing.T, s storage.Store) {
			create(t, s, newJob(t, scheduledAt(base.Add(time.Hour))))
		}, storage.TopicScheduled},
		{"RetryScheduled", func(t *testing.T, s storage.Store) { create(t, s, newJob(t)) }, func(t *testing.T, s storage.Store) {
			f := fetch(t, s, 1)[0]
			at := base.Add(time.Minute)
			require.Equal(t, []error{nil}, transition(t, s, false, storage.Transition{
				ID: f.ID, Token: f.LeaseToken, To: states.NameScheduled, RunAt: at,
				Data: mustMarshal(states.Scheduled{EnqueueAt: at, ScheduledAt: base})}))
		}, storage.TopicScheduled},
		{"PromoteDue", func(t *testing.T, s storage.Store) { create(t, s, newJob(t, scheduledAt(base))) }, func(t *testing.T, s storage.Store) {
			r, err := s.PromoteDue(ctx(t), &storage.PromoteParams{Now: base, Limit: 10})
			require.NoError(t, err)
			require.Equal(t, 1, r.Promoted)
		}, storage.TopicEnqueued},
		{"ReclaimExpired", func(t *testing.T, s storage.Store) {
			create(t, s, newJob(t))
			fetch(t, s, 1)
		}, func(t *testing.T, s storage.Store) {
			n, err := s.ReclaimExpired(ctx(t), &storage.ReclaimParams{Now: base.Add(time.Hour), Limit: 10})
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}, storage.TopicEnqueued},
		{"UpsertRecurring", nil, func(t *testing.T, s storage.Store) {
			require.NoError(t, recurring(t, s).UpsertRecurring(ctx(t), recurringDef("r", "@every 1h", base)))
		}, storage.TopicRecurring},
		{"ResumeRecurring", func(t *testing.T, s storage.Store) {
			r := recurring(t, s)
			require.NoError(t, r.UpsertRecurring(ctx(t), recurringDef("r", "@every 1h", base)))
			require.NoError(t, r.SetRecurringPaused(ctx(t), "r", true, time.Time{}))
		}, func(t *testing.T, s storage.Store) {
			require.NoError(t, recurring(t, s).SetRecurringPaused(ctx(t), "r", false, base))
		}, storage.TopicRecurring},
		{"FinishingTransition", func(t *testing.T, s storage.Store) { create(t, s, newJob(t)) }, func(t *testing.T, s storage.Store) {
			f := fetch(t, s, 1)[0]
			require.Equal(t, []error{nil}, transition(t, s, false, succeed(f.ID, f.LeaseToken)))
		}, storage.TopicFinished},
	}
	for _, tt := range tests {
		t.Run(tt.name+"WakesOnlyItsTopic", func(t *testing.T) {
			s := newStore(t)
			n, ok := s.(storage.Notifier)
			if !ok {
				t.Skip("store does not implement storage.Notifier")
			}
			if tt.setup != nil {
				tt.setup(t, s)
			}
			c, cancel := context.WithCancel(ctx(t))
			subs := map[storage.Topic]<-chan struct{}{}
			for _, topic := range []storage.Topic{storage.TopicEnqueued, storage.TopicScheduled, storage.TopicRecurring, storage.TopicFinished} {
				ch, err := n.Subscribe(c, topic)
				require.NoError(t, err)
				subs[topic] = ch
			}
			for _, ch := range subs {
				drain(ch)
			}
			tt.cause(t, s)
			select {
			case <-subs[tt.want]:
			case <-time.After(5 * time.Second):
				t.Fatalf("no wake-up of topic %d within 5s", tt.want)
			}
			time.Sleep(100 * time.Millisecond) // wake-ups of one change arrive together
			for topic, ch := range subs {
				if topic != tt.want {
					select {
					case <-ch:
						t.Errorf("topic %d woken by a change of topic %d", topic, tt.want)
					default:
					}
				}
			}
			cancel()
			for _, ch := range subs {
				for range ch { // closed once ctx is done
				}
			}
		})
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

func testPeeker(t *testing.T, newStore NewStore) {
	t.Run("PeekIsGetWithoutHistory", func(t *testing.T) {
		s := newStore(t)
		p, ok := s.(storage.Peeker)
		if !ok {
			t.Skip("store does not implement storage.Peeker")
		}
		create(t, s, newJob(t))
		f := fetch(t, s, 1)[0]
		got, err := p.Peek(ctx(t), f.ID)
		require.NoError(t, err)
		full := get(t, s, f.ID)
		require.NotEmpty(t, full.History)
		require.Empty(t, got.History)
		full.History = nil
		require.Equal(t, full, got)
		_, err = p.Peek(ctx(t), newID())
		require.ErrorIs(t, err, storage.ErrNotFound)
	})
}

func testLister(t *testing.T, newStore NewStore) {
	t.Run("ListAndCountByStateAndQueue", func(t *testing.T) {
		s := newStore(t)
		l := s.(storage.Lister)
		a, b, c := newJob(t), newJob(t), newJob(t, inQueue("mail"))
		create(t, s, a)
		create(t, s, b)
		create(t, s, c, newJob(t, scheduledAt(base.Add(time.Hour))))

		jobs, err := l.List(ctx(t), &storage.ListParams{State: states.NameEnqueued, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, idStrings([]*storage.Job{a, b, c}), idStrings(jobs), "in the order workers take them")

		jobs, err = l.List(ctx(t), &storage.ListParams{State: states.NameEnqueued, Queue: "default", Offset: 1, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, idStrings([]*storage.Job{b}), idStrings(jobs))

		counts, err := l.Count(ctx(t), "")
		require.NoError(t, err)
		require.Equal(t, int64(3), counts[states.NameEnqueued])
		require.Equal(t, int64(1), counts[states.NameScheduled])
		counts, err = l.Count(ctx(t), "mail")
		require.NoError(t, err)
		require.Equal(t, int64(1), counts[states.NameEnqueued])
		require.Zero(t, counts[states.NameScheduled])
	})

	t.Run("ListByTaskBatchAndAnyState", func(t *testing.T) {
		s := newStore(t)
		l := s.(storage.Lister)
		named := func(task string) jobOpt { return func(j *storage.Job) { j.Task = task } }
		a, b, c := newJob(t, named("resize")), newJob(t, named("mail")), newJob(t, named("resize"), scheduledAt(base.Add(time.Hour)))
		create(t, s, a, b, c)
		var batch *storage.Job
		if _, ok := s.(storage.Batches); ok {
			batch = newJob(t, named("resize"), inBatch(newID()))
			create(t, s, batch)
		}
		present := func(jobs ...*storage.Job) []*storage.Job { // without the batch's job on a store without batches
			return slices.DeleteFunc(jobs, func(j *storage.Job) bool { return j == nil })
		}
		batchID, inTheBatch := uuid.Nil, present(batch, c, b, a) // a nil BatchID matches every job
		if batch != nil {
			batchID, inTheBatch = batch.BatchID, []*storage.Job{batch}
		}
		tests := []struct {
			name string
			p    storage.ListParams
			want []*storage.Job
		}{
			{"task in any state", storage.ListParams{Task: "resize"}, present(batch, c, a)},
			{"task and state", storage.ListParams{Task: "resize", State: states.NameScheduled}, present(c)},
			{"unknown task", storage.ListParams{Task: "none"}, nil},
			{"every job, paged", storage.ListParams{Offset: 1, Limit: 2}, present(batch, c, b, a)[1:3]},
			{"batch", storage.ListParams{BatchID: batchID}, inTheBatch},
		}
		for _, tt := range tests {
			jobs, err := l.List(ctx(t), &tt.p)
			require.NoError(t, err, tt.name)
			require.Equal(t, idStrings(tt.want), idStrings(jobs), tt.name)
		}
	})
	t.Run("ListPagesByCursor", func(t *testing.T) { testListPages(t, newStore) })
	testListContinuations(t, needing(newStore, has[storage.Continuations]("Continuations")))
	testListBatches(t, needing(newStore, has[storage.BatchLister]("BatchLister")))
}

func testListContinuations(t *testing.T, newStore NewStore) {
	t.Run("ListContinuations", func(t *testing.T) {
		s := newStore(t)
		l := s.(storage.Lister)
		parent, other := newJob(t), newJob(t)
		first, second := newJob(t, awaiting(parent.ID, states.OnSuccess)), newJob(t, awaiting(parent.ID, states.OnFailure))
		create(t, s, parent, other)
		create(t, s, first, second, newJob(t, awaiting(other.ID, states.OnSuccess)))
		jobs, err := l.List(ctx(t), &storage.ListParams{ParentID: parent.ID})
		require.NoError(t, err)
		require.Equal(t, idStrings([]*storage.Job{second, first}), idStrings(jobs))
	})
}

func testListBatches(t *testing.T, newStore NewStore) {
	t.Run("ListBatchesKeyset", func(t *testing.T) {
		s := newStore(t)
		bl := s.(storage.BatchLister)
		ids := []uuid.UUID{newID(), newID(), newID(), newID()}
		for _, id := range ids {
			create(t, s, newJob(t, inBatch(id)), newJob(t, inBatch(id)))
		}
		create(t, s, newJob(t))
		newer := newID() // a place that no batch holds, after every batch
		for _, tt := range []struct {
			name string
			p    storage.BatchListParams
			want []uuid.UUID
		}{
			{"every batch, newest first", storage.BatchListParams{}, []uuid.UUID{ids[3], ids[2], ids[1], ids[0]}},
			{"a page", storage.BatchListParams{Limit: 2}, []uuid.UUID{ids[3], ids[2]}},
			{"after a cursor", storage.BatchListParams{Cursor: ids[2], Limit: 1}, []uuid.UUID{ids[1]}},
			{"after the oldest", storage.BatchListParams{Cursor: ids[0]}, nil},
			{"from the end, backwards", storage.BatchListParams{Backward: true, Limit: 3}, []uuid.UUID{ids[0], ids[1], ids[2]}},
			{"before a cursor", storage.BatchListParams{Cursor: ids[1], Backward: true}, []uuid.UUID{ids[2], ids[3]}},
			{"before the newest", storage.BatchListParams{Cursor: ids[3], Backward: true, Limit: 5}, nil},
			{"after a place no batch holds", storage.BatchListParams{Cursor: newer, Limit: 2}, []uuid.UUID{ids[3], ids[2]}},
			{"before a place no batch holds", storage.BatchListParams{Cursor: newer, Backward: true}, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := bl.ListBatches(ctx(t), &tt.p)
				require.NoError(t, err)
				require.Equal(t, fmt.Sprint(tt.want), fmt.Sprint(got))
			})
		}
	})
}

func testPruner(t *testing.T, newStore NewStore) {
	t.Run("DeleteExpiredRemovesOnlyExpiredFinalJobs", func(t *testing.T) {
		s := newStore(t)
		p, ok := s.(storage.Pruner)
		if !ok {
			t.Skip("store does not implement storage.Pruner")
		}
		create(t, s, newJob(t), newJob(t), newJob(t))
		f := fetch(t, s, 3)
		require.Len(t, f, 3)
		short, long, forever := succeed(f[0].ID, f[0].LeaseToken), succeed(f[1].ID, f[1].LeaseToken), succeed(f[2].ID, f[2].LeaseToken)
		short.ExpireAt = base.Add(time.Minute)
		long.ExpireAt = base.Add(time.Hour)
		require.Equal(t, []error{nil, nil, nil}, transition(t, s, false, short, long, forever))

		n, err := p.DeleteExpired(ctx(t), &storage.PruneParams{Now: base.Add(2 * time.Minute), Limit: 100})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		_, err = s.Get(ctx(t), f[0].ID)
		require.ErrorIs(t, err, storage.ErrNotFound)
		get(t, s, f[1].ID)
		get(t, s, f[2].ID)
	})
	t.Run("FailedJobsStayWholeThroughDeleteExpired", func(t *testing.T) { testFailedJobsStay(t, newStore) })
}

// testFailedJobsStay checks that Failed jobs, which never expire, stay
// whole through DeleteExpired (a store may move them aside then): read,
// listed, counted, logged, awaited as parents, counted in their batch,
// and changed by requeue or delete.
func testFailedJobsStay(t *testing.T, newStore NewStore) {
	s := newStore(t)
	p, ok := s.(storage.Pruner)
	if !ok {
		t.Skip("store does not implement storage.Pruner")
	}
	batch := newID()
	x, y, z, gone := newJob(t), newJob(t, inBatch(batch)), newJob(t), newJob(t)
	create(t, s, x, y, z, gone)
	for _, j := range []*storage.Job{x, y, z} {
		finish(t, s, j.ID, failed)
	}
	f := fetch(t, s, 1)
	require.Equal(t, []uuid.UUID{gone.ID}, ids(f))
	done := succeed(gone.ID, f[0].LeaseToken)
	done.ExpireAt = base.Add(time.Minute)
	require.Equal(t, []error{nil}, transition(t, s, false, done))
	before := get(t, s, x.ID)

	n, err := p.DeleteExpired(ctx(t), &storage.PruneParams{Now: base.Add(2 * time.Minute), Limit: 100})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, before, get(t, s, x.ID), "a Failed job changed as the store pruned")
	if pk, ok := s.(storage.Peeker); ok {
		j, err := pk.Peek(ctx(t), y.ID)
		require.NoError(t, err)
		require.Equal(t, states.NameFailed, j.State)
		require.Equal(t, batch, j.BatchID)
	}
	if l, ok := s.(storage.Lister); ok {
		counts, err := l.Count(ctx(t), "")
		require.NoError(t, err)
		require.EqualValues(t, 3, counts[states.NameFailed])
		for _, st := range []states.Name{states.NameFailed, ""} {
			var got []uuid.UUID
			for cursor := ""; ; {
				page, err := l.List(ctx(t), &storage.ListParams{State: st, Limit: 2, Cursor: cursor})
				require.NoError(t, err)
				if len(page) == 0 {
					break
				}
				got, cursor = append(got, ids(page)...), page[len(page)-1].Cursor
			}
			require.Equal(t, []uuid.UUID{z.ID, y.ID, x.ID}, got, "list of %q, newest first", st)
		}
		inBatch, err := l.List(ctx(t), &storage.ListParams{BatchID: batch})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{y.ID}, ids(inBatch))
	}
	if e, ok := s.(storage.Estimator); ok {
		counts, _, err := e.EstimateCount(ctx(t), "")
		require.NoError(t, err)
		require.EqualValues(t, 3, counts[states.NameFailed])
	}
	if b, ok := s.(storage.Batches); ok {
		progress, err := b.BatchProgress(ctx(t), batch)
		require.NoError(t, err)
		require.Equal(t, map[states.Name]int64{states.NameFailed: 1}, progress)
	}
	if bl, ok := s.(storage.BatchLister); ok {
		got, err := bl.ListBatches(ctx(t), &storage.BatchListParams{Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{batch}, got)
	}
	if jl, ok := s.(storage.JobLogs); ok {
		rec := storage.LogRecord{JobID: x.ID, Attempt: 1, At: base, Level: "INFO", Message: "after"}
		require.NoError(t, jl.AppendLogs(ctx(t), []storage.LogRecord{rec}))
		logs, _, err := jl.JobLogs(ctx(t), x.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"after"}, messages(logs))
	}
	if _, ok := s.(storage.Continuations); ok {
		onFailure, onSuccess := newJob(t, awaiting(x.ID, states.OnFailure)), newJob(t, awaiting(batch, states.OnSuccess))
		create(t, s, onFailure, onSuccess)
		require.Equal(t, states.NameEnqueued, stateOf(t, s, onFailure.ID), "the continuation of a Failed job")
		require.Equal(t, states.NameDeleted, stateOf(t, s, onSuccess.ID), "the continuation of a batch with a Failed job")
		require.Equal(t, states.NameFailed, stateOf(t, s, x.ID))
	}
	hist := len(get(t, s, y.ID).History)
	del := storage.Transition{ID: z.ID, From: []states.Name{states.NameFailed}, To: states.NameDeleted,
		Data: mustMarshal(states.Deleted{DeletedAt: base, Reason: "by request"})}
	require.Equal(t, []error{nil, nil}, transition(t, s, false, requeue(y.ID, states.NameFailed), del))
	require.Equal(t, states.NameEnqueued, stateOf(t, s, y.ID))
	require.Equal(t, states.NameDeleted, stateOf(t, s, z.ID))
	require.Len(t, get(t, s, y.ID).History, hist+1, "requeued, the Failed job keeps its history")
	require.Contains(t, ids(fetch(t, s, 10)), y.ID)
}

func testQueues(t *testing.T, newStore NewStore) {
	t.Run("PausedQueueIsNotFetchedAndItsJobsStay", func(t *testing.T) {
		s := newStore(t)
		qs, ok := s.(storage.Queues)
		if !ok {
			t.Skip("store does not implement storage.Queues")
		}
		a, b := newJob(t, inQueue("a")), newJob(t, inQueue("b"))
		create(t, s, a, b)
		require.NoError(t, qs.SetQueuePaused(ctx(t), "a", true))
		require.NoError(t, qs.SetQueuePaused(ctx(t), "empty", true))
		require.Equal(t, []uuid.UUID{b.ID}, ids(fetch(t, s, 10, "a", "b")), "a paused queue was fetched")
		require.Empty(t, fetch(t, s, 10, "a"), "a paused queue was fetched")
		require.Empty(t, fetchAbove(t, s, "a"), "a paused queue was fetched above a position")

		list, err := qs.ListQueues(ctx(t))
		require.NoError(t, err)
		require.Len(t, list, 2, "b has no Enqueued job left: %v", list)
		require.Equal(t, "a", list[0].Name)
		require.True(t, list[0].Paused)
		require.EqualValues(t, 1, list[0].Enqueued)
		require.False(t, list[0].OldestEnqueued.IsZero())
		require.Equal(t, storage.QueueInfo{Name: "empty", Paused: true}, list[1])

		var wake <-chan struct{}
		if n, ok := s.(storage.Notifier); ok {
			c, cancel := context.WithCancel(ctx(t))
			defer cancel()
			wake, err = n.Subscribe(c, storage.TopicEnqueued)
			require.NoError(t, err)
			drain(wake)
		}
		require.NoError(t, qs.SetQueuePaused(ctx(t), "a", false))
		if wake != nil {
			select {
			case <-wake:
			case <-time.After(5 * time.Second):
				t.Fatal("resuming a queue woke no fetcher")
			}
		}
		require.Equal(t, []uuid.UUID{a.ID}, ids(fetch(t, s, 10, "a")), "a resumed queue's job")
	})
}

func fetchAbove(t *testing.T, s storage.Store, queue string) []*storage.Job {
	t.Helper()
	jobs, err := s.Fetch(ctx(t), &storage.FetchParams{Queues: []string{queue}, Limit: 10, Owner: owner, LeaseFor: time.Minute, Now: base,
		Above: &storage.Position{Queue: queue, Priority: -1}})
	require.NoError(t, err)
	return jobs
}

func testStatistics(t *testing.T, newStore NewStore) {
	t.Run("TransitionCountsOutcomesPerMinute", func(t *testing.T) {
		s := newStore(t)
		st, ok := s.(storage.Statistics)
		if !ok {
			t.Skip("store does not implement storage.Statistics")
		}
		jobs := []*storage.Job{newJob(t), newJob(t), newJob(t), newJob(t)}
		create(t, s, jobs...)
		f := fetch(t, s, 4)
		require.Len(t, f, 4)
		del := storage.Transition{ID: f[3].ID, To: states.NameDeleted, Data: mustMarshal(states.Deleted{DeletedAt: base})}
		fail := storage.Transition{ID: f[2].ID, Token: f[2].LeaseToken, To: states.NameFailed, Data: mustMarshal(failed)}
		// The first call at base+1s, the second a minute later.
		require.Equal(t, []error{nil, nil, nil}, transition(t, s, false, succeed(f[0].ID, f[0].LeaseToken), fail, del))
		errs, err := s.Transition(ctx(t), &storage.TransitionParams{Transitions: []storage.Transition{succeed(f[1].ID, f[1].LeaseToken)},
			Now: base.Add(time.Minute + time.Second)})
		require.NoError(t, err)
		require.Equal(t, []error{nil}, errs)

		minute := storage.StatsPeriod(base.Add(time.Second), time.Minute)
		points, err := st.Stats(ctx(t), minute.Add(-time.Minute), minute.Add(3*time.Minute), time.Minute)
		require.NoError(t, err)
		require.Equal(t, []storage.StatsPoint{
			{At: minute.Add(-time.Minute)},
			{At: minute, Succeeded: 1, Failed: 1, Deleted: 1},
			{At: minute.Add(time.Minute), Succeeded: 1},
			{At: minute.Add(2 * time.Minute)},
		}, points)

		hour := storage.StatsPeriod(minute, time.Hour)
		points, err = st.Stats(ctx(t), minute, minute.Add(time.Hour), time.Hour)
		require.NoError(t, err)
		want := []storage.StatsPoint{{At: hour, Succeeded: 2, Failed: 1, Deleted: 1}}
		if !minute.Add(time.Minute).Before(hour.Add(time.Hour)) { // the second minute fell in the next hour
			want = []storage.StatsPoint{{At: hour, Succeeded: 1, Failed: 1, Deleted: 1}, {At: hour.Add(time.Hour), Succeeded: 1}}
		}
		require.Equal(t, want, points[:len(want)])
	})
}

func testJobLogs(t *testing.T, newStore NewStore) {
	t.Run("LogsAndProgressAreKeptWithTheJob", func(t *testing.T) {
		s := newStore(t)
		jl, ok := s.(storage.JobLogs)
		if !ok {
			t.Skip("store does not implement storage.JobLogs")
		}
		a, b := newJob(t), newJob(t)
		create(t, s, a, b)
		rec := func(id uuid.UUID, attempt int, msg string) storage.LogRecord {
			return storage.LogRecord{JobID: id, Attempt: attempt, At: base, Level: "INFO", Message: msg, Attrs: []byte(`{"n":1}`)}
		}
		require.NoError(t, jl.AppendLogs(ctx(t), []storage.LogRecord{rec(a.ID, 1, "one"), rec(b.ID, 1, "b"), rec(a.ID, 1, "two"), rec(newID(), 1, "gone")}))
		require.NoError(t, jl.AppendLogs(ctx(t), []storage.LogRecord{rec(a.ID, 2, "three")}))
		require.NoError(t, jl.SetProgress(ctx(t), []storage.Progress{{JobID: a.ID, Attempt: 1, Percent: 10, Message: "started", At: base}, {JobID: newID(), Percent: 1, At: base}}))
		require.NoError(t, jl.SetProgress(ctx(t), []storage.Progress{{JobID: a.ID, Attempt: 2, Percent: 90, Message: "almost", At: base.Add(time.Second)}}))

		logs, progress, err := jl.JobLogs(ctx(t), a.ID)
		require.NoError(t, err)
		var msgs []string
		for _, l := range logs {
			require.Equal(t, a.ID, l.JobID)
			require.Equal(t, "INFO", l.Level)
			require.JSONEq(t, `{"n":1}`, string(l.Attrs))
			require.True(t, base.Equal(l.At))
			msgs = append(msgs, l.Message)
		}
		require.Equal(t, []string{"one", "two", "three"}, msgs)
		require.Equal(t, 2, logs[2].Attempt)
		require.NotNil(t, progress)
		require.Equal(t, 90, progress.Percent)
		require.Equal(t, "almost", progress.Message)
		require.Equal(t, 2, progress.Attempt)
		require.True(t, base.Add(time.Second).Equal(progress.At))

		logs, progress, err = jl.JobLogs(ctx(t), b.ID)
		require.NoError(t, err)
		require.Len(t, logs, 1)
		require.Nil(t, progress)
		_, _, err = jl.JobLogs(ctx(t), newID())
		require.ErrorIs(t, err, storage.ErrNotFound)
	})
	// A flush that holds two attempts of one job (or two reports of one
	// attempt) stores the last entry of each job, and fails for none.
	t.Run("ProgressNamingAJobTwiceKeepsTheLast", func(t *testing.T) {
		s := newStore(t)
		jl, ok := s.(storage.JobLogs)
		if !ok {
			t.Skip("store does not implement storage.JobLogs")
		}
		a, b := newJob(t), newJob(t)
		create(t, s, a, b)
		require.NoError(t, jl.SetProgress(ctx(t), []storage.Progress{
			{JobID: a.ID, Attempt: 1, Percent: 40, Message: "a1", At: base},
			{JobID: b.ID, Attempt: 1, Percent: 10, Message: "b1", At: base},
			{JobID: a.ID, Attempt: 2, Percent: 20, Message: "a2", At: base.Add(time.Second)},
			{JobID: b.ID, Attempt: 1, Percent: 30, Message: "b1 later", At: base.Add(time.Second)},
		}))
		for _, want := range []struct {
			id      uuid.UUID
			attempt int
			msg     string
		}{{a.ID, 2, "a2"}, {b.ID, 1, "b1 later"}} {
			_, p, err := jl.JobLogs(ctx(t), want.id)
			require.NoError(t, err)
			require.NotNil(t, p)
			require.Equal(t, want.attempt, p.Attempt)
			require.Equal(t, want.msg, p.Message)
		}
	})
}

// messages returns the message of each of records.
func messages(records []storage.LogRecord) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = r.Message
	}
	return out
}
