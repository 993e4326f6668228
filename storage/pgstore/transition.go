package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// errRollback aborts a transaction without failing the call.
var errRollback = errors.New("rollback")

// Transition implements [storage.Store]. A batch whose ids are distinct,
// that finishes no job and that holds a lease for every change that may
// leave Failed is one statement. Otherwise the batch runs in one
// transaction: the jobs of changes without a lease that may leave Failed
// move back from jobs_kept first (see unkeep); a batch naming a job more
// than once runs in rounds of distinct ids, in order; an AllOrNothing
// batch rolls back when one change fails; and the continuations of
// finished jobs that the statement reports as awaited or in a batch are
// resolved (see resolve).
func (s *Store) Transition(ctx context.Context, p *storage.TransitionParams) ([]error, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	errs := make([]error, len(p.Transitions))
	if len(errs) == 0 {
		return errs, nil
	}
	rounds := distinctRounds(p.Transitions)
	finishes := slices.ContainsFunc(p.Transitions, func(t storage.Transition) bool { return t.To.Finished() })
	kept := mayBeKept(p.Transitions)
	var wake storage.Topic
	err := s.maybeTx(ctx, len(rounds) > 1 || p.AllOrNothing || finishes || kept != nil, func(db db) error {
		if err := s.unkeep(ctx, db, kept); err != nil {
			return err
		}
		var f parents
		for _, r := range rounds {
			if err := s.transitionRound(ctx, db, p, r, errs, &f); err != nil {
				return err
			}
		}
		if p.AllOrNothing && errors.Join(errs...) != nil {
			return errRollback
		}
		var err error
		wake, err = s.resolve(ctx, db, p.Now, p.Retention, f.jobs, f.batches)
		return err
	})
	if errors.Is(err, errRollback) {
		return errs, nil
	}
	if err != nil {
		return nil, interpretError("transition", err)
	}
	for i, t := range p.Transitions {
		if errs[i] == nil {
			wake |= stateTopic(t.To)
		}
	}
	return errs, s.wake(ctx, wake)
}

// parents collects finished jobs whose continuations may need resolving:
// jobs that are awaited, and batches.
type parents struct{ jobs, batches []pgtype.UUID }

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

// transitionSQL: $1 now, $2 ids, $3 expected states (comma-joined, or empty), $4 tokens, $5 new states, $6 state data, $7 reasons, $8 queues, $9 run_at, $10 expire_at, $11 params, $12 refunds, $13 lease owners (empty: any), $14–$18 traversed entries (ord, state, reason, data, at) → a row per change not applied, or applied and finishing an awaited job or a batch job: ord, state, token, applied, awaited, batch_id.
//
// One statement applies a batch whose ids are distinct, and counts the
// outcomes it stores (storage.Statistics). It first
// locks the rows in id order, as every statement that waits for
// several job rows does, so that two of them cannot deadlock, and
// FOR NO KEY UPDATE, and
// reads the states they leave from the locked (latest) versions. The
// compare-and-set is in the UPDATE's WHERE, which PostgreSQL
// re-checks on the latest row version, and reaches rows by primary
// key. The token alone proves Processing: only leased jobs have one.
// History gets the state left, then the traversed entries. Rows not
// updated are read back (as of the statement's start) so that the
// caller can tell why (from jobs_all: a leased change finds a Failed job
// the pruner moved).
var transitionSQL = `
WITH old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE id = ANY($2::uuid[]) ORDER BY id FOR NO KEY UPDATE
), upd AS (
	UPDATE {s}.jobs j SET
		state = t.to_state,
		state_data = t.data,
		state_reason = nullif(t.reason, ''),
		updated_at = ` + clock + `,
		attempt = CASE WHEN t.refund AND t.token <> 0 THEN greatest(j.attempt - 1, 0) ELSE j.attempt END,
		queue = coalesce(nullif(t.queue, ''), j.queue),
		run_at = CASE WHEN t.to_state = 'scheduled' THEN t.run_at ELSE j.run_at END,
		expire_at = CASE WHEN t.to_state IN ('succeeded', 'deleted') THEN t.expire_at END,
		params = CASE WHEN t.params IS NULL THEN j.params ELSE coalesce(j.params, '{}') || t.params END,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL,
		enqueued_seq = CASE WHEN t.to_state = 'enqueued' THEN nextval('{sl}.enqueue_seq') ELSE j.enqueued_seq END,
		unique_held = j.unique_held AND NOT (t.to_state IN ` + finished + ` AND j.unique_until IS NULL)
	FROM unnest($2::uuid[], $3::text[], $4::int8[], $5::text[], $6::json[], $7::text[],
		$8::text[], $9::timestamptz[], $10::timestamptz[], $11::jsonb[], $12::bool[], $13::text[])
		WITH ORDINALITY AS t(id, from_states, token, to_state, data, reason, queue, run_at, expire_at, params, refund, owner, ord)
	WHERE j.id = ANY(ARRAY(SELECT id FROM old))
		AND j.id = t.id AND (t.token = 0 OR j.lease_token = t.token AND (coalesce(t.owner, '') = '' OR j.lease_owner = t.owner))
		AND (t.from_states = '' OR j.state = ANY(string_to_array(t.from_states, ',')))
	RETURNING t.id, t.to_state, t.ord, j.awaited, j.batch_id
), {history}, counted AS (
	INSERT INTO {s}.stats AS st (minute, shard, succeeded, failed, deleted)
	SELECT date_trunc('minute', ` + clock + `), pg_backend_pid() % 8,
		count(*) FILTER (WHERE to_state = 'succeeded'), count(*) FILTER (WHERE to_state = 'failed'),
		count(*) FILTER (WHERE to_state = 'deleted')
	FROM upd HAVING count(*) FILTER (WHERE to_state IN ` + finished + `) > 0
	ON CONFLICT (minute, shard) DO UPDATE SET succeeded = st.succeeded + EXCLUDED.succeeded,
		failed = st.failed + EXCLUDED.failed, deleted = st.deleted + EXCLUDED.deleted
)
SELECT t.ord, f.state, f.lease_token, upd.ord IS NOT NULL, coalesce(upd.awaited, false), upd.batch_id
FROM unnest($2::uuid[]) WITH ORDINALITY AS t(id, ord)
LEFT JOIN upd USING (ord)
LEFT JOIN LATERAL (
	SELECT state, coalesce(lease_token, 0) AS lease_token FROM {s}.jobs_all WHERE upd.ord IS NULL AND id = t.id
	OFFSET 0 -- kept a lookup by primary key per unchanged row: flattened, it became a hash join over every job
) f ON true
WHERE upd.ord IS NULL OR upd.to_state IN ` + finished + ` AND (upd.awaited OR upd.batch_id IS NOT NULL)`

// transitionHistory is the CTE h of transitionSQL: the history gets the
// state left, then the traversed entries, in order; those of jobs that
// become Failed go to job_history_kept (see keptHistory).
var transitionHistory = `hx AS (
	SELECT old.id, old.state, coalesce(old.state_reason, '') AS reason, old.state_data AS data,
		old.updated_at AS at, upd.ord, 0 AS n, upd.to_state = 'failed' AS kept
	FROM upd JOIN old ON old.id = upd.id
	UNION ALL
	SELECT upd.id, tr.state, tr.reason, tr.data, tr.at, tr.ord, tr.n, upd.to_state = 'failed'
	FROM unnest($14::int8[], $15::text[], $16::text[], $17::json[], $18::timestamptz[])
		WITH ORDINALITY AS tr(ord, state, reason, data, at, n)
	JOIN upd ON upd.ord = tr.ord
), h AS (
	INSERT INTO {s}.job_history (job_id, state, reason, data, at)
	SELECT id, state, reason, data, at FROM hx WHERE NOT kept ORDER BY ord, n
), hk AS (
	INSERT INTO {s}.job_history_kept (job_id, id, state, reason, data, at)
	SELECT id, nextval('{sl}.job_history_id_seq'), state, reason, data, at
	FROM (SELECT * FROM hx WHERE kept ORDER BY ord, n) x
), ` + keptHistory

// plainHistory is transitionHistory for a batch that traverses no state
// (most completions): one entry per job, the state left, with nothing to
// merge or sort, and no $14–$18.
var plainHistory = `h AS (
	INSERT INTO {s}.job_history (job_id, state, reason, data, at)
	SELECT old.id, old.state, coalesce(old.state_reason, ''), old.state_data, old.updated_at
	FROM upd JOIN old ON old.id = upd.id WHERE upd.to_state <> 'failed'
), hk AS (
	INSERT INTO {s}.job_history_kept (job_id, id, state, reason, data, at)
	SELECT old.id, nextval('{sl}.job_history_id_seq'), old.state, coalesce(old.state_reason, ''), old.state_data, old.updated_at
	FROM upd JOIN old ON old.id = upd.id WHERE upd.to_state = 'failed'
), ` + keptHistory

// keptHistory ends the history CTEs of transitionSQL: the history of jobs
// that become Failed moves to job_history_kept. Failed jobs stay until a
// person acts, while the jobs around them are removed after their
// retention; kept in job_history, their few rows would keep almost every
// page of its time-ordered primary key alive, and the index would grow
// without bound. The rows keep their ids (from job_history's sequence), so
// the history reads in order across both tables (historySQL). A batch that
// fails no job deletes nothing: the lookup is of an empty array.
const keptHistory = `mv AS (
	DELETE FROM {s}.job_history WHERE job_id = ANY(ARRAY(SELECT id FROM upd WHERE to_state = 'failed'))
	RETURNING job_id, id, state, reason, data, at
), mvk AS (
	INSERT INTO {s}.job_history_kept (job_id, id, state, reason, data, at) SELECT * FROM mv
)`

// transitionRound applies the changes p.Transitions[idx], whose ids are
// distinct, records their results in errs and the finished parents in f.
// Columns that no change of the round sets (reasons, queues, run_at,
// params, as for most completions) are sent as NULL arrays, which unnest pads with
// NULLs: less to encode, send and decode per job.
func (s *Store) transitionRound(ctx context.Context, db db, p *storage.TransitionParams, idx []int, errs []error, f *parents) error {
	n := len(idx)
	var (
		ids               = make([]pgtype.UUID, n)
		from, to          = make([]pgtype.Text, n), make([]pgtype.Text, n)
		tokens            = make([]pgtype.Int8, n)
		data              = make([][]byte, n)
		expireAt          = make([]pgtype.Timestamptz, n)
		reasons, queues   []pgtype.Text
		owners            []pgtype.Text
		runAt             []pgtype.Timestamptz
		params            [][]byte
		refunds           []pgtype.Bool
		trOrd             []int64
		trState, trReason []string
		trData            [][]byte
		trAt              []pgtype.Timestamptz
	)
	for k, i := range idx {
		t := &p.Transitions[i]
		ids[k], tokens[k], to[k], data[k] = uid(t.ID), pgtype.Int8{Int64: t.Token, Valid: true}, text(string(t.To)), t.Data
		expireAt[k] = ts(t.ExpireAt)
		from[k] = text(joinNames(t.From))
		if t.Reason != "" {
			reasons = setAt(reasons, n, k, text(t.Reason))
		}
		if t.Queue != "" {
			queues = setAt(queues, n, k, text(t.Queue))
		}
		if t.Owner != "" {
			owners = setAt(owners, n, k, text(t.Owner))
		}
		if !t.RunAt.IsZero() {
			runAt = setAt(runAt, n, k, ts(t.RunAt))
		}
		if len(t.Params) > 0 {
			b, err := marshalParams(t.Params)
			if err != nil {
				return fmt.Errorf("job %s params: %w", t.ID, err)
			}
			params = setAt(params, n, k, b)
		}
		if t.Refund {
			refunds = setAt(refunds, n, k, pgtype.Bool{Bool: true, Valid: true})
		}
		for _, r := range t.Traversed {
			trOrd = append(trOrd, int64(k+1))
			trState, trReason, trData, trAt = append(trState, string(r.State)), append(trReason, r.Reason), append(trData, r.Data), append(trAt, ts(r.At))
		}
	}
	args := []any{ts(p.Now), array[pgtype.UUID](ids), array[pgtype.Text](from), array[pgtype.Int8](tokens),
		array[pgtype.Text](to), data, array[pgtype.Text](reasons), array[pgtype.Text](queues),
		array[pgtype.Timestamptz](runAt), array[pgtype.Timestamptz](expireAt), params, array[pgtype.Bool](refunds), array[pgtype.Text](owners)}
	sql := s.q.transitionPlain
	if trOrd != nil {
		sql, args = s.q.transition, append(args, trOrd, trState, trReason, trData, array[pgtype.Timestamptz](trAt))
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	var (
		ord           int
		state         *string
		token         *int64
		done, awaited bool
		batch         pgtype.UUID
	)
	_, err = pgx.ForEachRow(rows, []any{&ord, &state, &token, &done, &awaited, &batch}, func() error {
		i := idx[ord-1]
		switch {
		case !done:
			errs[i] = whyNot(&p.Transitions[i], state, token)
		case awaited:
			f.jobs = append(f.jobs, uid(p.Transitions[i].ID))
		}
		if done && batch.Valid {
			f.batches = append(f.batches, batch)
		}
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

// setAt sets s[k] to v, making s of length n first if it is nil.
func setAt[T any](s []T, n, k int, v T) []T {
	if s == nil {
		s = make([]T, n)
	}
	s[k] = v
	return s
}

func joinNames(names []states.Name) string {
	if len(names) == 1 {
		return string(names[0])
	}
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(n))
	}
	return b.String()
}
