package completer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// downStore fails every Transition while down is set, and reports each
// failure on failed.
type downStore struct {
	storage.Store
	down   atomic.Bool
	failed chan struct{}
}

func (s *downStore) Transition(_ context.Context, p *storage.TransitionParams) ([]error, error) {
	if s.down.Load() {
		select {
		case s.failed <- struct{}{}:
		default:
		}
		return nil, errors.New("connection refused")
	}
	return make([]error, len(p.Transitions)), nil
}

// A flush backing off from a failing store retries as soon as another
// call of the worker reports the store back (Outage), instead of sleeping
// out a back-off grown during the outage.
func TestRetryWakesWhenTheStoreIsBack(t *testing.T) {
	const failures = 7 // the back-off after them: 640 ms
	s := &downStore{failed: make(chan struct{}, failures+10)}
	s.down.Store(true)
	c := New(s, 10, 1, 10, time.Hour, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go c.Run(ctx)
	defer c.Close()
	done := make(chan error, 1)
	require.True(t, c.Submit(Item{T: storage.Transition{ID: uuid.New()}, Done: func(err error) { done <- err }}))
	for range failures {
		<-s.failed
	}
	time.Sleep(50 * time.Millisecond) // well into the 640 ms wait
	s.down.Store(false)
	back := time.Now()
	c.Outage().Succeeded() // as a fetch that succeeds reports it
	require.NoError(t, <-done)
	require.Less(t, time.Since(back), 400*time.Millisecond, "the retry waited out its back-off")
}
