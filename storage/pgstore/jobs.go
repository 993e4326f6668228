package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Create implements [storage.Store] with one INSERT of every job and its
// first history entry; a duplicate id fails it whole with
// [storage.ErrDuplicate]. A zero CreatedAt means the server's clock.
func (s *Store) Create(ctx context.Context, p *storage.CreateParams) ([]uuid.UUID, error) {
	if err := s.create(ctx, p); err != nil {
		return nil, err
	}
	out := make([]uuid.UUID, len(p.Jobs))
	for i, j := range p.Jobs {
		out[i] = j.ID
	}
	return out, nil
}

func (s *Store) create(ctx context.Context, p *storage.CreateParams) error {
	n := len(p.Jobs)
	if err := s.check(ctx); err != nil || n == 0 {
		return err
	}
	var (
		ids                           = make([]pgtype.UUID, n)
		tasks, queues, names, reasons = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		args, data, params            = make([][]byte, n), make([][]byte, n), make([][]byte, n)
		prios, attempts               = make([]int32, n), make([]int32, n)
		runAt, createdAt, expireAt    = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		wake                          bool
		err                           error
	)
	for i, j := range p.Jobs {
		ids[i], tasks[i], queues[i], names[i] = uid(j.ID), j.Task, j.Queue, string(j.State)
		args[i], data[i], prios[i], attempts[i] = j.Args, j.StateData, int32(j.Priority), int32(j.Attempt)
		runAt[i], createdAt[i], expireAt[i] = ts(j.RunAt), ts(j.CreatedAt), ts(j.ExpireAt)
		if st, err := states.Unmarshal(j.State, j.StateData); err == nil {
			reasons[i] = st.Why()
		}
		if params[i], err = marshalParams(j.Params); err != nil {
			return fmt.Errorf("pgstore: create job %s: %w", j.ID, err)
		}
		wake = wake || j.State == states.NameEnqueued || j.State == states.NameScheduled
	}
	if _, err := s.db.Exec(ctx, s.q.create, ids, tasks, args, queues, prios, names, data, runAt, createdAt,
		expireAt, params, reasons, attempts); err != nil {
		return interpretError("create", err)
	}
	if wake {
		return interpretError("notify", s.wake(ctx))
	}
	return nil
}

func marshalParams(m map[string]json.RawMessage) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

// Fetch implements [storage.Store] with one UPDATE that locks and skips.
func (s *Store) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if p.Limit < 1 || len(p.Queues) == 0 {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, s.q.fetch, ts(p.Now), p.Limit, p.Owner, p.LeaseFor.Microseconds(), p.Queues)
	if err != nil {
		return nil, interpretError("fetch", err)
	}
	jobs, err := pgx.CollectRows(rows, scanJob)
	return jobs, interpretError("fetch", err)
}

// scanJob reads the columns of jobCols.
func scanJob(row pgx.CollectableRow) (*storage.Job, error) {
	var (
		j                           storage.Job
		runAt, expireAt, leaseUntil pgtype.Timestamptz
		params                      []byte
	)
	err := row.Scan((*[16]byte)(&j.ID), &j.Task, &j.Args, &j.Queue, &j.Priority, (*string)(&j.State), &j.StateData,
		&runAt, &j.Attempt, &j.CreatedAt, &j.UpdatedAt, &expireAt, &params, &j.LeaseOwner, &j.LeaseToken, &leaseUntil)
	if err != nil {
		return nil, err
	}
	j.RunAt, j.ExpireAt, j.LeaseUntil = runAt.Time, expireAt.Time, leaseUntil.Time
	if params != nil {
		if err := json.Unmarshal(params, &j.Params); err != nil {
			return nil, fmt.Errorf("job %s params: %w", j.ID, err)
		}
	}
	return &j, nil
}

// errRollback aborts a transaction without failing the call.
var errRollback = errors.New("rollback")

// Transition implements [storage.Store]. A batch whose ids are distinct is
// one statement. A batch naming a job more than once runs in rounds of
// distinct ids, in order, and an AllOrNothing batch rolls back when one
// change fails; both in one transaction.
func (s *Store) Transition(ctx context.Context, p *storage.TransitionParams) ([]error, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	errs := make([]error, len(p.Transitions))
	if len(errs) == 0 {
		return errs, nil
	}
	rounds := distinctRounds(p.Transitions)
	var err error
	if len(rounds) == 1 && !p.AllOrNothing {
		err = s.transitionRound(ctx, s.db, p, rounds[0], errs)
	} else {
		err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			for _, r := range rounds {
				if err := s.transitionRound(ctx, tx, p, r, errs); err != nil {
					return err
				}
			}
			if p.AllOrNothing && errors.Join(errs...) != nil {
				return errRollback
			}
			return nil
		})
		if errors.Is(err, errRollback) {
			return errs, nil
		}
	}
	if err != nil {
		return nil, interpretError("transition", err)
	}
	for i, t := range p.Transitions {
		if errs[i] == nil && (t.To == states.NameEnqueued || t.To == states.NameScheduled) {
			return errs, interpretError("notify", s.wake(ctx))
		}
	}
	return errs, nil
}

// distinctRounds splits the indexes of ts into rounds in which no job
// appears twice; the n-th change of a job goes to round n.
func distinctRounds(ts []storage.Transition) [][]int {
	seen := make(map[uuid.UUID]int, len(ts))
	out := [][]int{make([]int, 0, len(ts))}
	for i, t := range ts {
		r := seen[t.ID]
		seen[t.ID] = r + 1
		if r == len(out) {
			out = append(out, nil)
		}
		out[r] = append(out[r], i)
	}
	return out
}

// transitionRound applies the changes p.Transitions[idx], whose ids are
// distinct, and records their results in errs.
func (s *Store) transitionRound(ctx context.Context, db db, p *storage.TransitionParams, idx []int, errs []error) error {
	n := len(idx)
	var (
		ids                       = make([]pgtype.UUID, n)
		from, to, reasons, queues = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		tokens                    = make([]int64, n)
		data, params              = make([][]byte, n), make([][]byte, n)
		runAt, expireAt           = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		trOrd                     []int64
		trState, trReason         []string
		trData                    [][]byte
		trAt                      []pgtype.Timestamptz
		err                       error
	)
	for k, i := range idx {
		t := &p.Transitions[i]
		ids[k], tokens[k], to[k], data[k], reasons[k], queues[k] = uid(t.ID), t.Token, string(t.To), t.Data, t.Reason, t.Queue
		runAt[k], expireAt[k] = ts(t.RunAt), ts(t.ExpireAt)
		from[k] = joinNames(t.From)
		if params[k], err = marshalParams(t.Params); err != nil {
			return fmt.Errorf("job %s params: %w", t.ID, err)
		}
		for _, r := range t.Traversed {
			trOrd = append(trOrd, int64(k+1))
			trState, trReason, trData, trAt = append(trState, string(r.State)), append(trReason, r.Reason), append(trData, r.Data), append(trAt, ts(r.At))
		}
	}
	rows, err := db.Query(ctx, s.q.transition, ts(p.Now), ids, from, tokens, to, data, reasons, queues, runAt, expireAt,
		params, trOrd, trState, trReason, trData, trAt)
	if err != nil {
		return err
	}
	var (
		ord   int
		state *string
		token *int64
	)
	_, err = pgx.ForEachRow(rows, []any{&ord, &state, &token}, func() error {
		i := idx[ord-1]
		errs[i] = whyNot(&p.Transitions[i], state, token)
		return nil
	})
	return err
}

// whyNot explains a change that was not applied, from the job's state and
// token as the statement found them (nil when there is no such job).
func whyNot(t *storage.Transition, state *string, token *int64) error {
	switch {
	case state == nil:
		return fmt.Errorf("pgstore: job %s: %w", t.ID, storage.ErrNotFound)
	case t.Token != 0 && (states.Name(*state) != states.NameProcessing || *token != t.Token):
		return fmt.Errorf("pgstore: job %s token %d: %w", t.ID, t.Token, storage.ErrLeaseLost)
	case len(t.From) > 0 && !slices.Contains(t.From, states.Name(*state)):
		return fmt.Errorf("pgstore: job %s is %s, not %v: %w", t.ID, *state, t.From, storage.ErrStateConflict)
	case t.Token != 0: // changed by another transaction while this one waited for the row
		return fmt.Errorf("pgstore: job %s token %d: changed concurrently: %w", t.ID, t.Token, storage.ErrLeaseLost)
	}
	return fmt.Errorf("pgstore: job %s: changed concurrently: %w", t.ID, storage.ErrStateConflict)
}

func joinNames(names []states.Name) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(n))
	}
	return b.String()
}

// ExtendLeases implements [storage.Store].
func (s *Store) ExtendLeases(ctx context.Context, p *storage.ExtendParams) ([]uuid.UUID, error) {
	if err := s.check(ctx); err != nil || len(p.Jobs) == 0 {
		return nil, err
	}
	ids, tokens := make([]pgtype.UUID, 0, len(p.Jobs)), make([]int64, 0, len(p.Jobs))
	for id, token := range p.Jobs {
		ids, tokens = append(ids, uid(id)), append(tokens, token)
	}
	rows, err := s.db.Query(ctx, s.q.extend, ids, tokens, p.Owner, p.Until)
	if err != nil {
		return nil, interpretError("extend leases", err)
	}
	lost, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (uuid.UUID, error) {
		var id uuid.UUID
		return id, r.Scan((*[16]byte)(&id))
	})
	return lost, interpretError("extend leases", err)
}

// PromoteDue implements [storage.Store].
func (s *Store) PromoteDue(ctx context.Context, p *storage.PromoteParams) (storage.PromoteResult, error) {
	var (
		res  storage.PromoteResult
		next pgtype.Timestamptz
	)
	n, err := s.moveToEnqueued(ctx, "promote", s.q.promote, p.Now, p.Limit, "scheduled time reached", &next)
	res.Promoted, res.Next = n, next.Time
	return res, err
}

// ReclaimExpired implements [storage.Store].
func (s *Store) ReclaimExpired(ctx context.Context, p *storage.ReclaimParams) (int, error) {
	return s.moveToEnqueued(ctx, "reclaim", s.q.reclaim, p.Now, p.Limit, "lease expired")
}

// moveToEnqueued runs the promote or reclaim statement, which returns the
// count moved and then the columns scanned into more.
func (s *Store) moveToEnqueued(ctx context.Context, op, sql string, now time.Time, limit int, reason string, more ...any) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRow(ctx, sql, ts(now), limit, reason).Scan(append([]any{&n}, more...)...); err != nil {
		return 0, interpretError(op, err)
	}
	if n > 0 {
		return n, interpretError("notify", s.wake(ctx))
	}
	return n, nil
}

// Get implements [storage.Store].
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, s.q.get, uid(id))
	if err != nil {
		return nil, interpretError("get", err)
	}
	j, err := pgx.CollectExactlyOneRow(rows, scanJob)
	if err != nil {
		return nil, interpretError("get job "+id.String(), err)
	}
	rows, err = s.db.Query(ctx, s.q.history, uid(id))
	if err != nil {
		return nil, interpretError("get history", err)
	}
	j.History, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.StateRecord, error) {
		var h storage.StateRecord
		return h, r.Scan((*string)(&h.State), &h.Reason, &h.Data, &h.At)
	})
	return j, interpretError("get history", err)
}

// List implements [storage.Lister]. Jobs come newest first (by their
// UUIDv7 id).
func (s *Store) List(ctx context.Context, p *storage.ListParams) ([]*storage.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, s.q.list, string(p.State), p.Queue, p.Offset, p.Limit)
	if err != nil {
		return nil, interpretError("list", err)
	}
	jobs, err := pgx.CollectRows(rows, scanJob)
	return jobs, interpretError("list", err)
}

// Count implements [storage.Lister].
func (s *Store) Count(ctx context.Context, queue string) (map[states.Name]int64, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, s.q.count, queue)
	if err != nil {
		return nil, interpretError("count", err)
	}
	out := make(map[states.Name]int64, len(states.Names))
	var (
		name string
		n    int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		out[states.Name(name)] = n
		return nil
	})
	return out, interpretError("count", err)
}

// DeleteExpired implements [storage.Pruner].
func (s *Store) DeleteExpired(ctx context.Context, p *storage.PruneParams) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var n int
	err := s.db.QueryRow(ctx, s.q.prune, ts(p.Now), p.Limit).Scan(&n)
	return n, interpretError("delete expired", err)
}
