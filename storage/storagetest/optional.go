package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func testNotifier(t *testing.T, newStore NewStore) {
	t.Run("CreateWakesSubscribers", func(t *testing.T) {
		s := newStore(t)
		n, ok := s.(storage.Notifier)
		if !ok {
			t.Skip("store does not implement storage.Notifier")
		}
		c, cancel := context.WithCancel(ctx(t))
		ch, err := n.Subscribe(c)
		require.NoError(t, err)
		drain(ch)
		create(t, s, newJob(t))
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("no wake-up within 5s of Create")
		}
		cancel()
		for range ch { // closed once ctx is done
		}
	})
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

func testLister(t *testing.T, newStore NewStore) {
	t.Run("ListAndCountByStateAndQueue", func(t *testing.T) {
		s := newStore(t)
		l, ok := s.(storage.Lister)
		if !ok {
			t.Skip("store does not implement storage.Lister")
		}
		a, b, c := newJob(t), newJob(t), newJob(t, inQueue("mail"))
		create(t, s, a)
		create(t, s, b)
		create(t, s, c, newJob(t, scheduledAt(base.Add(time.Hour))))

		jobs, err := l.List(ctx(t), &storage.ListParams{State: states.NameEnqueued, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, idStrings([]*storage.Job{c, b, a}), idStrings(jobs), "newest first")

		jobs, err = l.List(ctx(t), &storage.ListParams{State: states.NameEnqueued, Queue: "default", Offset: 1, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, idStrings([]*storage.Job{a}), idStrings(jobs))

		counts, err := l.Count(ctx(t), "")
		require.NoError(t, err)
		require.Equal(t, int64(3), counts[states.NameEnqueued])
		require.Equal(t, int64(1), counts[states.NameScheduled])
		counts, err = l.Count(ctx(t), "mail")
		require.NoError(t, err)
		require.Equal(t, int64(1), counts[states.NameEnqueued])
		require.Zero(t, counts[states.NameScheduled])
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
}
