package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
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

// many returns n new Enqueued jobs.
func many(n int) []*storage.Job {
	out := make([]*storage.Job, n)
	for i := range out {
		out[i] = enqueued()
	}
	return out
}

// TestFailedCallLeavesItsBatchUnaffected: calls that share a transaction
// with a failing call succeed, and the failing call changes nothing, not
// even the part of its work that came before the failure.
func TestFailedCallLeavesItsBatchUnaffected(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t)
	old := enqueued()
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{old}})
	require.NoError(t, err)

	// A call that holds the writer until the others are queued, so that
	// they all run in the next transaction.
	started, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() { held <- s.write(ctx, func(*wtx) error { close(started); <-release; return nil }) }()
	<-started
	calls := []struct {
		name string
		jobs []*storage.Job
		err  error
	}{
		{"new", []*storage.Job{enqueued()}, nil},
		{"duplicate", []*storage.Job{old}, storage.ErrDuplicate},
		{"new then duplicate", []*storage.Job{enqueued(), old}, storage.ErrDuplicate},
		{"two new", []*storage.Job{enqueued(), enqueued()}, nil},
		{"many, then a duplicate", append(many(2*insertRows), old), storage.ErrDuplicate},
		{"a duplicate among many", slices.Insert(many(insertRows-1), insertRows/2, old), storage.ErrDuplicate},
	}
	errs := make([]chan error, len(calls))
	for i, c := range calls {
		errs[i] = make(chan error, 1)
		go func() {
			_, err := s.Create(ctx, &storage.CreateParams{Jobs: c.jobs})
			errs[i] <- err
		}()
	}
	for len(s.ops) != len(calls) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	require.NoError(t, <-held)
	for i, c := range calls {
		err := <-errs[i]
		if c.err != nil {
			require.ErrorIs(t, err, c.err, c.name)
			_, err := s.Get(ctx, c.jobs[0].ID)
			if c.jobs[0] != old {
				require.ErrorIs(t, err, storage.ErrNotFound, "%s: its first job was undone", c.name)
			}
			continue
		}
		require.NoError(t, err, c.name)
		for _, j := range c.jobs {
			_, err := s.Get(ctx, j.ID)
			require.NoError(t, err, c.name)
		}
	}
	n, err := s.Count(ctx, "")
	require.NoError(t, err)
	require.Equal(t, int64(4), n[states.NameEnqueued])
}

// TestCreateStoresEachJobsValues: the jobs of a call are stored with their
// own values, whether the jobs of a statement share all but their own
// (bound once) or one of them differs in any other.
func TestCreateStoresEachJobsValues(t *testing.T) {
	ctx := testCtx(t)
	for _, tc := range []struct {
		name   string
		change func(j *storage.Job)
	}{
		{"alike", func(*storage.Job) {}},
		{"another priority", func(j *storage.Job) { j.Priority = 7 }},
		{"another partition", func(j *storage.Job) { j.Partition = "p" }},
		{"another state data", func(j *storage.Job) { j.StateData = []byte(`{"queue":"default","reason":"other"}`) }},
		{"in a batch", func(j *storage.Job) { j.BatchID = uuid.Must(uuid.NewV7()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			js := many(2*insertRows + 3)
			for i, j := range js {
				j.Args = []byte(fmt.Sprintf(`{"i":%d}`, i))
			}
			tc.change(js[insertRows+5])
			_, err := s.Create(ctx, &storage.CreateParams{Jobs: js})
			require.NoError(t, err)
			for i, j := range js {
				got, err := s.Get(ctx, j.ID)
				require.NoError(t, err)
				require.Equal(t, []any{j.Args, j.Priority, j.Partition, j.BatchID, j.Task, j.Queue, string(j.StateData)},
					[]any{got.Args, got.Priority, got.Partition, got.BatchID, got.Task, got.Queue, string(got.StateData)}, "job %d", i)
			}
		})
	}
}

// TestEmptyFetchWritesNothing: a fetch that finds no job commits no change
// (another connection sees the same data_version), and the next lease's
// token still follows the last one given.
func TestEmptyFetchWritesNothing(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t)
	fetch := func(queue string) []*storage.Job {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{queue}, Limit: 1, Owner: "w", LeaseFor: time.Minute})
		require.NoError(t, err)
		return got
	}
	conn, err := s.readDB.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	version := func() (v int64) {
		require.NoError(t, conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v))
		return v
	}
	var tokens []int64
	for range 2 {
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: many(1)})
		require.NoError(t, err)
		got := fetch("default")
		require.Len(t, got, 1)
		tokens = append(tokens, got[0].LeaseToken)
		before := version()
		require.Empty(t, fetch("other"))
		require.Equal(t, before, version(), "the empty fetch changed the file")
	}
	require.Equal(t, tokens[0]+1, tokens[1])
}

// TestSameValue: the values Create and Transition bind compare by value,
// and a value of a type sameValue does not know is never shared.
func TestSameValue(t *testing.T) {
	for _, tc := range []struct {
		a, b any
		same bool
	}{
		{nil, nil, true},
		{"a", "a", true},
		{"a", "b", false},
		{0, 0, true},
		{0, int64(0), false},
		{int64(5), int64(5), true},
		{true, true, true},
		{true, false, false},
		{[]byte("x"), []byte("x"), true},
		{[]byte("x"), []byte("y"), false},
		{[]byte{}, []byte(nil), false},
		{[]byte("x"), "x", false},
		{"x", []byte("x"), false},
		{nil, []byte(nil), false},
		{[]int{1}, []int{1}, false},
	} {
		require.Equal(t, tc.same, sameValue(tc.a, tc.b), "%#v, %#v", tc.a, tc.b)
	}
}

// TestConformanceWalking runs the conformance suite on a store whose fair
// fetches always walk the partitions, the way a fetch goes once limits
// hold many jobs back.
func TestConformanceWalking(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t, walking()) })
}
