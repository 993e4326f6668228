package sqlitestore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// TestLeasedChangesTogether: in a call of many changes of leased jobs,
// made together in statements of several sizes, each change that fails
// its guard gets its own error and leaves its job alone, and the others
// are made; whether the changes of a statement differ in every value or
// share all but their own.
func TestLeasedChangesTogether(t *testing.T) {
	const n = 87               // chunks of 64, 16, 4, 2 and 1
	chunk := func(i int) int { // the chunk of change i
		c := 0
		for _, end := range []int{64, 80, 84, 86, 87} {
			if i < end {
				return c
			}
			c++
		}
		return c
	}
	for _, order := range []struct {
		name string
		of   func(i int) int // the case of change i, of 5
	}{
		{"mixed", func(i int) int { return i % 5 }},
		{"each chunk alike", chunk},
	} {
		t.Run(order.name, func(t *testing.T) { testLeasedChangesTogether(t, n, order.of) })
	}
}

func testLeasedChangesTogether(t *testing.T, n int, caseOf func(i int) int) {
	ctx := testCtx(t)
	s := newStore(t)
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs(n)})
	require.NoError(t, err)
	got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "w", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, got, n)
	succeeded, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now()})
	failed, _ := states.Marshal(states.Failed{FailedAt: time.Now(), Reason: "boom"})
	processing := []states.Name{states.NameProcessing}
	cases := []struct {
		name  string
		tr    func(j *storage.Job) storage.Transition
		state states.Name // the job's state after the call
		err   error
	}{
		{"succeeds", func(j *storage.Job) storage.Transition {
			return storage.Transition{ID: j.ID, Token: j.LeaseToken, Owner: "w", From: processing, To: states.NameSucceeded, Data: succeeded}
		}, states.NameSucceeded, nil},
		{"fails", func(j *storage.Job) storage.Transition {
			return storage.Transition{ID: j.ID, Token: j.LeaseToken, From: processing, To: states.NameFailed, Data: failed, Refund: true}
		}, states.NameFailed, nil},
		{"stale token", func(j *storage.Job) storage.Transition {
			return storage.Transition{ID: j.ID, Token: j.LeaseToken + 1000, From: processing, To: states.NameSucceeded, Data: succeeded}
		}, states.NameProcessing, storage.ErrLeaseLost},
		{"another owner", func(j *storage.Job) storage.Transition {
			return storage.Transition{ID: j.ID, Token: j.LeaseToken, Owner: "x", To: states.NameSucceeded, Data: succeeded}
		}, states.NameProcessing, storage.ErrLeaseLost},
		{"another state", func(j *storage.Job) storage.Transition {
			return storage.Transition{ID: j.ID, Token: j.LeaseToken, From: []states.Name{states.NameEnqueued, states.NameScheduled}, To: states.NameSucceeded, Data: succeeded}
		}, states.NameProcessing, storage.ErrStateConflict},
	}
	ts := make([]storage.Transition, n)
	for i, j := range got {
		ts[i] = cases[caseOf(i)].tr(j)
	}
	errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
	require.NoError(t, err)
	for i, j := range got {
		c := cases[caseOf(i)]
		if c.err == nil {
			require.NoError(t, errs[i], "%d: %s", i, c.name)
		} else {
			require.ErrorIs(t, errs[i], c.err, "%d: %s", i, c.name)
		}
		after, err := s.Get(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, c.state, after.State, "%d: %s", i, c.name)
		if c.state != states.NameProcessing {
			require.Equal(t, []states.Name{states.NameEnqueued, states.NameProcessing}, []states.Name{after.History[0].State, after.History[1].State}, "%d: %s", i, c.name)
			require.Len(t, after.History, 3, "%d: %s", i, c.name)
		}
	}
}
