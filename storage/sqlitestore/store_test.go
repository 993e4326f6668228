package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/stresstest"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/storagetest"
)

// newStore returns a store on a fresh file in the test's temporary
// directory, closed after the test.
func newStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "jobs.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t) })
}

// TestJobControlAgainstRunningWork is the job-control stress test (package
// stresstest) on SQLite.
func TestJobControlAgainstRunningWork(t *testing.T) {
	stresstest.Run(t, newStore(t), stresstest.Config{})
}

// enqueued returns a new Enqueued job in queue "default".
func enqueued() *storage.Job {
	data, err := states.Marshal(states.Enqueued{Queue: "default", Reason: "created"})
	if err != nil {
		panic(err)
	}
	return &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "t", Args: []byte(`{}`), Queue: "default", State: states.NameEnqueued, StateData: data}
}

// TestCallsAfterCloseFail: once the store is closed, calls return
// ErrClosed, none hangs, and Close may be called again.
func TestCallsAfterCloseFail(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "jobs.db"))
	require.NoError(t, err)
	ctx := testCtx(t)
	done := make(chan error, 50)
	for range cap(done) { // calls racing with Close
		go func() {
			_, err := s.Create(context.Background(), &storage.CreateParams{Jobs: []*storage.Job{enqueued()}})
			done <- err
		}()
	}
	require.NoError(t, s.Close())
	for range cap(done) {
		select {
		case err := <-done:
			if err != nil {
				require.ErrorIs(t, err, ErrClosed)
			}
		case <-ctx.Done():
			t.Fatal("a call hung after Close")
		}
	}
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueued()}})
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Get(ctx, uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, s.Close())
}
