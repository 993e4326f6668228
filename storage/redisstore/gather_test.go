package redisstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// TestGatheredCreatesStayApart makes many concurrent Create calls, some of
// which fail, so that they are gathered into shared function calls: each
// call must still be stored all or none, with its own result.
func TestGatheredCreatesStayApart(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, testClient(t))
	existing := enqueuedJob(t)
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{existing}})
	require.NoError(t, err)

	const calls = 200
	type call struct {
		jobs []*storage.Job
		fail bool // holds the ID of existing, so none of its jobs is stored
		ids  []uuid.UUID
		err  error
	}
	all := make([]*call, calls)
	for i := range all {
		c := &call{jobs: []*storage.Job{enqueuedJob(t), enqueuedJob(t)}, fail: i%7 == 3}
		if c.fail {
			dup := enqueuedJob(t)
			dup.ID = existing.ID
			c.jobs = append(c.jobs, dup)
		}
		all[i] = c
	}
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Go(func() { c.ids, c.err = s.Create(ctx, &storage.CreateParams{Jobs: c.jobs}) })
	}
	wg.Wait()

	for i, c := range all {
		if c.fail {
			require.ErrorIs(t, c.err, storage.ErrDuplicate, "call %d", i)
			for _, j := range c.jobs[:2] {
				_, err := s.Get(ctx, j.ID)
				require.ErrorIs(t, err, storage.ErrNotFound, "call %d stored job %s", i, j.ID)
			}
			continue
		}
		require.NoError(t, c.err, "call %d", i)
		require.Equal(t, []uuid.UUID{c.jobs[0].ID, c.jobs[1].ID}, c.ids, "call %d", i)
		for _, j := range c.jobs {
			got, err := s.Get(ctx, j.ID)
			require.NoError(t, err, "call %d", i)
			require.Equal(t, states.NameEnqueued, got.State)
		}
	}
}

// TestGatheredCreateLeavesOnCancel cancels a call that waits to be
// gathered: it returns at once, and leaves the calls waiting.
func TestGatheredCreateLeavesOnCancel(t *testing.T) {
	s := newStore(t, testClient(t))
	s.gather.mu.Lock()
	s.gather.busy = maxInFlight // as if calls were on their way
	s.gather.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t)}})
		errc <- err
	}()
	require.Eventually(t, func() bool {
		s.gather.mu.Lock()
		defer s.gather.mu.Unlock()
		return len(s.gather.waiting) == 1
	}, time.Second*5, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	s.gather.mu.Lock()
	require.Empty(t, s.gather.waiting)
	s.gather.mu.Unlock()
}
