package storagetest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func testCreate(t *testing.T, newStore NewStore) {
	t.Run("GetReturnsWhatCreateStored", func(t *testing.T) {
		s := newStore(t)
		j := newJob(t, inQueue("mail"), priority(3))
		j.Params = map[string]json.RawMessage{"trace": json.RawMessage(`"abc"`)}
		create(t, s, j)

		got := get(t, s, j.ID)
		require.Equal(t, j.ID, got.ID)
		require.Equal(t, "test-task", got.Task)
		require.JSONEq(t, `{"n":1}`, string(got.Args))
		require.Equal(t, "mail", got.Queue)
		require.Equal(t, 3, got.Priority)
		require.Equal(t, states.NameEnqueued, got.State)
		require.Equal(t, 0, got.Attempt)
		require.True(t, base.Equal(got.CreatedAt), "created at %v, want %v", got.CreatedAt, base)
		require.JSONEq(t, `"abc"`, string(got.Params["trace"]))
		require.Equal(t, []states.Name{states.NameEnqueued}, historyNames(got))
		require.Equal(t, "created", got.History[0].Reason)
		st, err := got.CurrentState()
		require.NoError(t, err)
		require.Equal(t, "mail", st.(states.Enqueued).Queue)
	})

	t.Run("GetUnknownIsErrNotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Get(ctx(t), uuid.Must(uuid.NewV7()))
		require.ErrorIs(t, err, storage.ErrNotFound)
	})

	t.Run("CreateStoresAllOrNone", func(t *testing.T) {
		s := newStore(t)
		existing := newJob(t)
		create(t, s, existing)
		fresh := newJob(t)
		_, err := s.Create(ctx(t), &storage.CreateParams{Jobs: []*storage.Job{fresh, newJob(t), existing}})
		require.ErrorIs(t, err, storage.ErrDuplicate)
		_, err = s.Get(ctx(t), fresh.ID)
		require.True(t, errors.Is(err, storage.ErrNotFound), "a failed Create stored part of its jobs: %v", err)
		require.Len(t, fetch(t, s, 10), 1, "only the job created before is fetchable")
	})

	t.Run("CreateWithOneIDTwiceStoresNothing", func(t *testing.T) {
		s := newStore(t)
		a, b := newJob(t), newJob(t)
		twin := *a
		_, err := s.Create(ctx(t), &storage.CreateParams{Jobs: []*storage.Job{a, b, &twin}})
		require.ErrorIs(t, err, storage.ErrDuplicate)
		for _, id := range []uuid.UUID{a.ID, b.ID} {
			_, err = s.Get(ctx(t), id)
			require.ErrorIs(t, err, storage.ErrNotFound)
		}
		require.Empty(t, fetch(t, s, 10))
	})

	t.Run("CreateManyAtOnce", func(t *testing.T) {
		s := newStore(t)
		jobs := make([]*storage.Job, 500)
		for i := range jobs {
			jobs[i] = newJob(t)
		}
		create(t, s, jobs...)
		require.ElementsMatch(t, ids(jobs), ids(fetch(t, s, 1000)))
	})

	t.Run("CreateHonoursCanceledContext", func(t *testing.T) {
		s := newStore(t)
		c, cancel := contextWithCancel(t)
		cancel()
		_, err := s.Create(c, &storage.CreateParams{Jobs: []*storage.Job{newJob(t)}})
		require.Error(t, err)
	})
}
