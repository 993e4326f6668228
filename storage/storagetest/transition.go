package storagetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func testTransition(t *testing.T, newStore NewStore) {
	t.Run("TransitionAppliesStateAndClearsLease", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t))
		f := fetch(t, s, 1)[0]
		tr := succeed(f.ID, f.LeaseToken)
		tr.ExpireAt = base.Add(24 * time.Hour)
		tr.Params = map[string]json.RawMessage{"k": json.RawMessage(`1`)}
		require.Equal(t, []error{nil}, transition(t, s, false, tr))

		got := get(t, s, f.ID)
		require.Equal(t, states.NameSucceeded, got.State)
		require.Empty(t, got.LeaseOwner)
		require.Zero(t, got.LeaseToken)
		require.True(t, base.Add(24*time.Hour).Equal(got.ExpireAt), "expire at %v", got.ExpireAt)
		require.JSONEq(t, `1`, string(got.Params["k"]))
		st, err := got.CurrentState()
		require.NoError(t, err)
		require.JSONEq(t, `"ok"`, string(st.(states.Succeeded).Result))
	})

	t.Run("StateDataKeepsAnyResultBytes", func(t *testing.T) {
		s := newStore(t)
		results := [][]byte{{0x0a, 0xff, 0x01, 0x00}, []byte(`{"id":1}`), []byte(`{ "spaced" : true }`), []byte("not json")}
		for _, result := range results {
			create(t, s, newJob(t))
			f := fetch(t, s, 1)[0]
			tr := succeed(f.ID, f.LeaseToken)
			tr.Data = mustMarshal(states.Succeeded{SucceededAt: base, Result: result})
			require.Equal(t, []error{nil}, transition(t, s, false, tr))
			st, err := get(t, s, f.ID).CurrentState()
			require.NoError(t, err)
			require.Equal(t, result, st.(states.Succeeded).Result, "the result bytes as the worker stored them")
		}
	})

	t.Run("TransitionFromUnexpectedStateIsConflictAndChangesNothing", func(t *testing.T) {
		s := newStore(t)
		j := newJob(t)
		create(t, s, j)
		errs := transition(t, s, false, succeed(j.ID, 0)) // expects Processing; job is Enqueued
		require.ErrorIs(t, errs[0], storage.ErrStateConflict)
		got := get(t, s, j.ID)
		require.Equal(t, states.NameEnqueued, got.State)
		require.Len(t, got.History, 1)
		require.Len(t, fetch(t, s, 1), 1, "job still fetchable")
	})

	t.Run("TransitionWithStaleTokenIsLeaseLost", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t))
		f := fetch(t, s, 1)[0]
		errs := transition(t, s, false, succeed(f.ID, f.LeaseToken+1000))
		require.ErrorIs(t, errs[0], storage.ErrLeaseLost)
		require.Equal(t, states.NameProcessing, get(t, s, f.ID).State)
	})

	// A refunded lease spends no attempt: the job's Attempt goes back down
	// with the change that ends the lease, whatever the new state, while
	// the lease's Processing entry stays in the history. A refund that
	// fails, or that comes without a lease, changes no attempt.
	t.Run("RefundGivesBackTheLeasesAttempt", func(t *testing.T) {
		s := newStore(t)
		j := newJob(t)
		create(t, s, j)
		back := func(f *storage.Job, to states.State) storage.Transition {
			tr := storage.Transition{ID: f.ID, From: []states.Name{states.NameProcessing}, Token: f.LeaseToken,
				To: to.Name(), Data: mustMarshal(to), Reason: to.Why(), Refund: true}
			if sc, ok := to.(states.Scheduled); ok {
				tr.RunAt = sc.EnqueueAt
			}
			return tr
		}
		for round, to := range []states.State{
			states.Enqueued{Queue: "default", EnqueuedAt: base, Reason: "bounced"},
			states.Scheduled{EnqueueAt: base, ScheduledAt: base, Reason: "snoozed"},
		} {
			f := fetch(t, s, 1)
			require.Len(t, f, 1, "round %d", round)
			require.Equal(t, 1, f[0].Attempt, "round %d: the refunded leases counted", round)
			require.Equal(t, []error{nil}, transition(t, s, false, back(f[0], to)))
			require.Zero(t, get(t, s, j.ID).Attempt, "round %d", round)
			if to.Name() == states.NameScheduled {
				_, err := s.PromoteDue(ctx(t), &storage.PromoteParams{Now: base.Add(time.Hour), Limit: 10})
				require.NoError(t, err)
			}
		}
		f := fetch(t, s, 1)[0]
		require.Equal(t, 1, f.Attempt)
		stale := back(f, states.Enqueued{Queue: "default", EnqueuedAt: base})
		stale.Token++
		require.ErrorIs(t, transition(t, s, false, stale)[0], storage.ErrLeaseLost)
		require.Equal(t, 1, get(t, s, j.ID).Attempt, "a refund that failed counted")
		require.Equal(t, []error{nil}, transition(t, s, false, requeue(j.ID)))
		require.Equal(t, 1, get(t, s, j.ID).Attempt, "a move without a refund gave back the attempt")
		noLease := requeue(j.ID)
		noLease.Refund = true
		require.Equal(t, []error{nil}, transition(t, s, false, noLease))
		require.Equal(t, 1, get(t, s, j.ID).Attempt, "a refund without a lease gave back an attempt")
		got := get(t, s, j.ID)
		require.Equal(t, []states.Name{states.NameEnqueued, states.NameProcessing, states.NameEnqueued, states.NameProcessing,
			states.NameScheduled, states.NameEnqueued, states.NameProcessing, states.NameEnqueued, states.NameEnqueued}, historyNames(got))
	})

	t.Run("TransitionWithTokenOfAnotherOwnerIsLeaseLost", func(t *testing.T) {
		for _, tt := range []struct {
			name, owner string
			want        error
		}{
			{"the lease's owner", owner, nil},
			{"no owner named", "", nil},
			{"another owner", "server-b", storage.ErrLeaseLost},
		} {
			s := newStore(t)
			create(t, s, newJob(t))
			f := fetch(t, s, 1)[0]
			tr := succeed(f.ID, f.LeaseToken)
			tr.Owner = tt.owner
			errs := transition(t, s, false, tr)
			want := states.NameSucceeded
			if tt.want != nil {
				require.ErrorIs(t, errs[0], tt.want, tt.name)
				want = states.NameProcessing
			} else {
				require.NoError(t, errs[0], tt.name)
			}
			require.Equal(t, want, get(t, s, f.ID).State, tt.name)
		}
	})

	t.Run("TransitionOfUnknownJobIsNotFound", func(t *testing.T) {
		s := newStore(t)
		errs := transition(t, s, false, requeue(uuid.Must(uuid.NewV7())))
		require.ErrorIs(t, errs[0], storage.ErrNotFound)
	})

	t.Run("HistoryIsAppendedInOrderWithTraversedStates", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t))
		f := fetch(t, s, 1)[0]
		failed, err := storage.NewStateRecord(states.Failed{FailedAt: base, ErrorMessage: "boom", Reason: "attempt 1"}, base)
		require.NoError(t, err)
		retryAt := base.Add(time.Minute)
		require.Equal(t, []error{nil}, transition(t, s, false, storage.Transition{
			ID: f.ID, From: []states.Name{states.NameProcessing}, Token: f.LeaseToken,
			To: states.NameScheduled, Data: mustMarshal(states.Scheduled{EnqueueAt: retryAt, ScheduledAt: base}),
			Reason: "retry 1 of 10", RunAt: retryAt, Traversed: []storage.StateRecord{failed},
		}))
		got := get(t, s, f.ID)
		require.Equal(t, []states.Name{states.NameEnqueued, states.NameProcessing, states.NameFailed, states.NameScheduled}, historyNames(got))
		require.Equal(t, "attempt 1", got.History[2].Reason)
		require.Equal(t, "retry 1 of 10", got.History[3].Reason)
		require.True(t, retryAt.Equal(got.RunAt))
		for i := 1; i < len(got.History); i++ {
			require.False(t, got.History[i].At.Before(got.History[i-1].At), "history out of time order")
		}
	})

	// Every kind of move, whether the caller's or the store's own, records
	// the state left with its reason, data and time, and Get reports the
	// current state last.
	t.Run("HistoryRecordsEveryMove", func(t *testing.T) {
		s := newStore(t)
		j := newJob(t, scheduledAt(base))
		create(t, s, j)
		type step struct {
			name   string
			move   func(t *testing.T)
			state  states.Name
			reason string
		}
		var token int64
		lease := func(now time.Time) func(t *testing.T) {
			return func(t *testing.T) {
				f, err := s.Fetch(ctx(t), &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: owner, LeaseFor: time.Minute, Now: now})
				require.NoError(t, err)
				require.Len(t, f, 1)
				token = f[0].LeaseToken
			}
		}
		steps := []step{
			{"create", func(*testing.T) {}, states.NameScheduled, "delayed"},
			{"promote", func(t *testing.T) {
				r, err := s.PromoteDue(ctx(t), &storage.PromoteParams{Now: base.Add(time.Second), Limit: 10})
				require.NoError(t, err)
				require.Equal(t, 1, r.Promoted)
			}, states.NameEnqueued, "scheduled time reached"},
			{"fetch", lease(base.Add(2 * time.Second)), states.NameProcessing, ""},
			{"reclaim", func(t *testing.T) {
				n, err := s.ReclaimExpired(ctx(t), &storage.ReclaimParams{Now: base.Add(2 * time.Minute), Limit: 10})
				require.NoError(t, err)
				require.Equal(t, 1, n)
			}, states.NameEnqueued, "lease expired"},
			{"fetch again", lease(base.Add(3 * time.Minute)), states.NameProcessing, ""},
			{"succeed", func(t *testing.T) {
				errs, err := s.Transition(ctx(t), &storage.TransitionParams{
					Transitions: []storage.Transition{succeed(j.ID, token)}, Now: base.Add(4 * time.Minute)})
				require.NoError(t, err)
				require.Equal(t, []error{nil}, errs)
			}, states.NameSucceeded, ""},
		}
		for i, st := range steps {
			st.move(t)
			got := get(t, s, j.ID)
			require.Len(t, got.History, i+1, "after %s", st.name)
			last := got.History[i]
			require.Equal(t, st.state, last.State, "after %s", st.name)
			require.Equal(t, got.State, last.State, "after %s: the last entry is the current state", st.name)
			require.JSONEq(t, string(got.StateData), string(last.Data), "after %s", st.name)
			require.True(t, got.UpdatedAt.Equal(last.At), "after %s: at %v, updated %v", st.name, last.At, got.UpdatedAt)
			for k, want := range steps[:i+1] {
				h := got.History[k]
				require.Equal(t, want.state, h.State, "after %s, entry %d", st.name, k)
				require.Equal(t, want.reason, h.Reason, "after %s, entry %d", st.name, k)
				_, err := states.Unmarshal(h.State, h.Data)
				require.NoError(t, err, "after %s, entry %d", st.name, k)
				if k > 0 {
					require.False(t, h.At.Before(got.History[k-1].At), "after %s: entry %d out of time order", st.name, k)
				}
			}
		}
	})

	t.Run("BatchReportsEachResult", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t), newJob(t), newJob(t))
		f := fetch(t, s, 3)
		require.Len(t, f, 3)
		errs := transition(t, s, false, succeed(f[0].ID, f[0].LeaseToken), succeed(f[1].ID, f[1].LeaseToken+99), succeed(f[2].ID, f[2].LeaseToken))
		require.NoError(t, errs[0])
		require.ErrorIs(t, errs[1], storage.ErrLeaseLost)
		require.NoError(t, errs[2])
		require.Equal(t, states.NameSucceeded, get(t, s, f[0].ID).State)
		require.Equal(t, states.NameProcessing, get(t, s, f[1].ID).State)
		require.Equal(t, states.NameSucceeded, get(t, s, f[2].ID).State)
	})

	t.Run("AllOrNothingBatchLeavesEveryJobUnchangedOnOneFailure", func(t *testing.T) {
		s := newStore(t)
		a, b := newJob(t), newJob(t)
		create(t, s, a, b)
		errs := transition(t, s, true,
			storage.Transition{ID: a.ID, From: []states.Name{states.NameEnqueued}, To: states.NameDeleted, Data: mustMarshal(states.Deleted{DeletedAt: base})},
			storage.Transition{ID: b.ID, From: []states.Name{states.NameProcessing}, To: states.NameDeleted, Data: mustMarshal(states.Deleted{DeletedAt: base})},
		)
		require.ErrorIs(t, errs[1], storage.ErrStateConflict)
		require.Equal(t, states.NameEnqueued, get(t, s, a.ID).State)
		require.Len(t, get(t, s, a.ID).History, 1)
		require.Len(t, fetch(t, s, 10), 2)
	})

	t.Run("AllOrNothingBatchAppliesAllWhenAllHold", func(t *testing.T) {
		s := newStore(t)
		a, b := newJob(t), newJob(t)
		create(t, s, a, b)
		del := func(id uuid.UUID) storage.Transition {
			return storage.Transition{ID: id, From: []states.Name{states.NameEnqueued}, To: states.NameDeleted, Data: mustMarshal(states.Deleted{DeletedAt: base})}
		}
		require.Equal(t, []error{nil, nil}, transition(t, s, true, del(a.ID), del(b.ID)))
		require.Equal(t, states.NameDeleted, get(t, s, a.ID).State)
		require.Equal(t, states.NameDeleted, get(t, s, b.ID).State)
		require.Empty(t, fetch(t, s, 10), "deleted jobs must leave their queue")
	})

	// A call may name one job more than once: its changes apply in order,
	// and with AllOrNothing each is checked against the state the changes
	// before it leave.
	t.Run("BatchNamingAJobTwiceAppliesInOrder", func(t *testing.T) {
		del := storage.Transition{To: states.NameDeleted, From: []states.Name{states.NameEnqueued}, Data: mustMarshal(states.Deleted{DeletedAt: base})}
		back := requeue(uuid.Nil, states.NameDeleted)
		for _, tc := range []struct {
			name         string
			allOrNothing bool
			second       storage.Transition
			wantErr      error
			wantHistory  int
		}{
			{"AppliesInOrder", false, back, nil, 3},
			{"AppliesInOrderAllOrNothing", true, back, nil, 3},
			{"SecondFailsAlone", false, del, storage.ErrStateConflict, 2},
			{"SecondFailsAllOrNothing", true, del, storage.ErrStateConflict, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := newStore(t)
				j := newJob(t)
				create(t, s, j)
				first, second := del, tc.second
				first.ID, second.ID = j.ID, j.ID
				errs := transition(t, s, tc.allOrNothing, first, second)
				if !tc.allOrNothing || tc.wantErr == nil {
					require.NoError(t, errs[0])
				}
				require.ErrorIs(t, errs[1], tc.wantErr)
				require.Len(t, get(t, s, j.ID).History, tc.wantHistory)
			})
		}
	})

	t.Run("RequeueMakesJobFetchableInNewQueueAndClearsExpiry", func(t *testing.T) {
		s := newStore(t)
		create(t, s, newJob(t))
		f := fetch(t, s, 1)[0]
		tr := succeed(f.ID, f.LeaseToken)
		tr.ExpireAt = base.Add(time.Hour)
		require.Equal(t, []error{nil}, transition(t, s, false, tr))
		rq := requeue(f.ID, states.NameSucceeded)
		rq.Queue = "again"
		require.Equal(t, []error{nil}, transition(t, s, false, rq))
		got := get(t, s, f.ID)
		require.True(t, got.ExpireAt.IsZero(), "a non-final state keeps expiry %v", got.ExpireAt)
		require.Equal(t, "again", got.Queue)
		require.Len(t, fetch(t, s, 1, "again"), 1)
	})

	t.Run("ConcurrentConflictingTransitionsApplyOnce", func(t *testing.T) {
		s := newStore(t)
		j := newJob(t)
		create(t, s, j)
		results := make(chan error, 8)
		for range 8 {
			go func() {
				errs, err := s.Transition(ctx(t), &storage.TransitionParams{Transitions: []storage.Transition{
					{ID: j.ID, From: []states.Name{states.NameEnqueued}, To: states.NameDeleted, Data: mustMarshal(states.Deleted{DeletedAt: base})},
				}})
				if err != nil {
					results <- err
					return
				}
				results <- errs[0]
			}()
		}
		ok := 0
		for range 8 {
			if err := <-results; err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, storage.ErrStateConflict)
			}
		}
		require.Equal(t, 1, ok)
		require.Len(t, get(t, s, j.ID).History, 2)
	})
}
