package pgstore

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func enqueuedJob(t testing.TB) *storage.Job {
	data, err := states.Marshal(states.Enqueued{Queue: "default", Reason: "created"})
	require.NoError(t, err)
	return &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "t", Args: []byte(`{}`), Queue: "default", State: states.NameEnqueued, StateData: data}
}

func currentState(t *testing.T, s *Store, id uuid.UUID) states.State {
	j, err := s.Get(testCtx(t), id)
	require.NoError(t, err)
	st, err := j.CurrentState()
	require.NoError(t, err)
	return st
}

// The states the store writes itself (Processing on fetch, Enqueued on
// promotion and reclaim) are built in SQL; they must decode like
// states.Marshal's, and a zero Now must mean the server's clock.
func TestStoreWrittenStatesDecodeAndUseServerClock(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	j := enqueuedJob(t)
	require.NoError(t, create(ctx, s, j))
	got := get(t, s, j.ID)
	require.WithinDuration(t, time.Now(), got.CreatedAt, 5*time.Second, "zero CreatedAt means now")

	f, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "srv", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, f, 1)
	p := currentState(t, s, j.ID).(states.Processing)
	require.Equal(t, "srv", p.ServerID)
	require.WithinDuration(t, time.Now(), p.StartedAt, 5*time.Second)
	require.True(t, p.StartedAt.Add(time.Minute).Equal(f[0].LeaseUntil))

	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	n, err := s.ReclaimExpired(ctx, &storage.ReclaimParams{Now: at, Limit: 10})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, states.Enqueued{Queue: "default", EnqueuedAt: at, Reason: "lease expired"}, withUTC(currentState(t, s, j.ID)))
}

func withUTC(st states.State) states.State {
	e := st.(states.Enqueued)
	e.EnqueuedAt = e.EnqueuedAt.UTC()
	return e
}

func get(t *testing.T, s *Store, id uuid.UUID) *storage.Job {
	j, err := s.Get(testCtx(t), id)
	require.NoError(t, err)
	return j
}

func TestWithTxCreateFollowsCallersTransaction(t *testing.T) {
	for _, commit := range []bool{true, false} {
		name := map[bool]string{true: "Commit", false: "Rollback"}[commit]
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			ctx := testCtx(t)
			wake := subscribe(t, s)
			tx, err := s.pool.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(ctx)
			j := enqueuedJob(t)
			require.NoError(t, create(ctx, s.WithTx(tx), j))
			_, err = s.Get(ctx, j.ID)
			require.ErrorIs(t, err, storage.ErrNotFound, "visible before commit")
			require.False(t, woken(wake, 100*time.Millisecond), "woken before commit")

			if commit {
				require.NoError(t, tx.Commit(ctx))
				get(t, s, j.ID)
				require.True(t, woken(wake, 5*time.Second), "no wake-up after commit")
				return
			}
			require.NoError(t, tx.Rollback(ctx))
			_, err = s.Get(ctx, j.ID)
			require.ErrorIs(t, err, storage.ErrNotFound)
		})
	}
}

// After every backend of the store is terminated, calls may fail but never
// panic, the pool reconnects, and the subscriber listens again.
func TestStoreSurvivesTerminatedConnections(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	wake := subscribe(t, s)
	create := func() error {
		return create(ctx, s, enqueuedJob(t))
	}
	require.NoError(t, create())

	// A separate connection, so it survives; only this test's backends
	// (its application_name) are terminated, not those of other tests.
	cfg := s.pool.Config().ConnConfig
	app := cfg.RuntimeParams["application_name"]
	admin, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer admin.Close(ctx)
	backends := func(query string) int {
		var n int
		require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1
			AND query LIKE $2`, app, query).Scan(&n))
		return n
	}
	require.Equal(t, 1, backends("LISTEN%"))
	var killed int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, app).Scan(&killed))
	require.GreaterOrEqual(t, killed, 2, "the pool's and the listener's backends")

	require.Eventually(t, func() bool { return create() == nil }, 10*time.Second, 50*time.Millisecond, "store never recovered")
	require.Eventually(t, func() bool { return backends("LISTEN%") == 1 }, 10*time.Second, 50*time.Millisecond, "subscriber never listened again")
	for woken(wake, 200*time.Millisecond) { // the wake-up sent on reconnecting
	}
	require.NoError(t, create())
	require.True(t, woken(wake, 5*time.Second), "no wake-up after resubscribing")
}

// subscribe returns the wake-ups of s until the test ends.
func subscribe(t *testing.T, s *Store) <-chan struct{} {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := s.Subscribe(c, storage.TopicEnqueued)
	require.NoError(t, err)
	return ch
}

// woken reports whether a wake-up arrives on ch within d.
func woken(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// TestUnreachableDatabaseNamesTheFailingCall: a call on a store whose
// database cannot be reached fails under its own name, not the schema
// check's.
func TestUnreachableDatabaseNamesTheFailingCall(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now
	pool, err := pgxpool.New(context.Background(), "postgres://taskflow@"+addr+"/none?connect_timeout=2")
	require.NoError(t, err)
	defer pool.Close()
	s := New(pool)
	ctx := testCtx(t)
	tests := []struct {
		name string
		call func() error
		op   string
	}{
		{"Create", func() error { return create(ctx, s, enqueuedJob(t)) }, "pgstore: create:"},
		{"Get", func() error { _, err := s.Get(ctx, uuid.New()); return err }, "pgstore: get"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.op)
			require.NotContains(t, err.Error(), "schema version")
		})
	}
}

// The history of a job that becomes Failed moves to job_history_kept, so
// that job_history holds only rows that retention removes; the job's
// history still reads whole and in order, when it is requeued and
// finishes, and pruning removes both tables' rows.
func TestFailedJobsHistoryIsKeptApart(t *testing.T) {
	for _, traversed := range []bool{false, true} {
		t.Run(map[bool]string{false: "Plain", true: "Traversing"}[traversed], func(t *testing.T) {
			s := newStore(t)
			ctx := testCtx(t)
			j := enqueuedJob(t)
			require.NoError(t, create(ctx, s, j))
			rows := func(table string) int {
				var n int
				require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.cfg.schema+`.`+table+` WHERE job_id = $1`, j.ID).Scan(&n))
				return n
			}
			transition := func(tr storage.Transition) {
				errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{tr}})
				require.NoError(t, err)
				require.NoError(t, errs[0])
			}
			leased, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "o", LeaseFor: time.Minute})
			require.NoError(t, err)
			failed, err := states.Marshal(states.Failed{FailedAt: time.Now(), ErrorMessage: "boom"})
			require.NoError(t, err)
			fail := storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: leased[0].LeaseToken, To: states.NameFailed, Data: failed}
			want := []states.Name{states.NameEnqueued, states.NameProcessing}
			if traversed {
				scheduled, err := states.Marshal(states.Scheduled{EnqueueAt: time.Now()})
				require.NoError(t, err)
				fail.Traversed = []storage.StateRecord{{State: states.NameScheduled, Data: scheduled, At: time.Now()}}
				want = append(want, states.NameScheduled)
			}
			transition(fail)
			want = append(want, states.NameFailed)
			require.Equal(t, 0, rows("job_history"), "history left in job_history")
			require.Equal(t, len(want)-1, rows("job_history_kept"))
			require.Equal(t, want, historyNames(get(t, s, j.ID)))

			enqueued, err := states.Marshal(states.Enqueued{Queue: "default"})
			require.NoError(t, err)
			transition(storage.Transition{ID: j.ID, From: []states.Name{states.NameFailed}, To: states.NameEnqueued, Data: enqueued})
			succeeded, err := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
			require.NoError(t, err)
			transition(storage.Transition{ID: j.ID, From: []states.Name{states.NameEnqueued}, To: states.NameSucceeded, Data: succeeded, ExpireAt: time.Now()})
			want = append(want, states.NameEnqueued, states.NameSucceeded)
			require.Equal(t, want, historyNames(get(t, s, j.ID)))
			require.Equal(t, 2, rows("job_history"), "the states left since the requeue")

			n, err := s.DeleteExpired(ctx, &storage.PruneParams{Now: time.Now().Add(time.Minute), Limit: 10})
			require.NoError(t, err)
			require.Equal(t, 1, n)
			require.Zero(t, rows("job_history")+rows("job_history_kept"), "history left after pruning")
		})
	}
}

func historyNames(j *storage.Job) []states.Name {
	var out []states.Name
	for _, h := range j.History {
		out = append(out, h.State)
	}
	return out
}

// Subscriptions that follow one another reuse the LISTEN connection: it
// stays open for a while after the last subscription ends.
func TestSubscriptionsInTurnShareTheConnection(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	app := s.pool.Config().ConnConfig.RuntimeParams["application_name"]
	listening := func() []int {
		rows, err := s.pool.Query(ctx, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1 AND query LIKE 'LISTEN%'`, app)
		require.NoError(t, err)
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
		require.NoError(t, err)
		return pids
	}
	var first []int
	for i := range 3 {
		c, cancel := context.WithCancel(ctx)
		ch, err := s.Subscribe(c, storage.TopicFinished)
		require.NoError(t, err)
		pids := listening()
		require.Len(t, pids, 1)
		if i == 0 {
			first = pids
		}
		require.Equal(t, first, pids, "subscription %d dialed again", i)
		cancel()
		for range ch { // closed once its ctx is done
		}
	}
}
