package pgstore

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Notifier = (*Store)(nil)
	_ storage.Lister   = (*Store)(nil)
	_ storage.Pruner   = (*Store)(nil)
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
	require.NoError(t, s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}}))
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

// A batch may name one job more than once; its changes apply in order.
func TestTransitionBatchNamingAJobTwice(t *testing.T) {
	del := storage.Transition{To: states.NameDeleted, From: []states.Name{states.NameEnqueued}, Data: []byte(`{}`)}
	back := storage.Transition{To: states.NameEnqueued, From: []states.Name{states.NameDeleted}, Data: []byte(`{"queue":"default"}`)}
	tests := []struct {
		name         string
		allOrNothing bool
		second       storage.Transition
		wantErr      error
		wantHistory  int
	}{
		{"AppliesInOrder", false, back, nil, 3},
		{"SecondFailsAlone", false, del, storage.ErrStateConflict, 2},
		{"SecondFailsAllOrNothing", true, del, storage.ErrStateConflict, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			j := enqueuedJob(t)
			require.NoError(t, s.Create(testCtx(t), &storage.CreateParams{Jobs: []*storage.Job{j}}))
			first, second := del, tc.second
			first.ID, second.ID = j.ID, j.ID
			errs, err := s.Transition(testCtx(t), &storage.TransitionParams{Transitions: []storage.Transition{first, second}, AllOrNothing: tc.allOrNothing})
			require.NoError(t, err)
			require.NoError(t, errs[0])
			require.ErrorIs(t, errs[1], tc.wantErr)
			require.Len(t, get(t, s, j.ID).History, tc.wantHistory)
		})
	}
}
