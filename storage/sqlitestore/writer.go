package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// op is one call's work for the writer.
type op struct {
	ctx  context.Context
	fn   func(w *wtx) error
	done chan error
	wake storage.Topic // set by fn through w
}

// execer is where the writer's statements run: its connection, or the
// caller's transaction for a store made by WithTx.
type execer interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// wtx is the writer's transaction, as the work of one call sees it.
type wtx struct {
	conn  execer
	stmts map[string]*sql.Stmt // nil: statements are not kept (WithTx)
	ctx   context.Context
	cur   *op

	counters bool // seq and token were read in this transaction
	dirty    bool // and changed
	seq      int64
	token    int64

	fairState // the writer's memory between fair fetches
}

// write runs fn in the writer's next transaction and returns its error.
// The calls of a transaction first run one after another with nothing
// between them; when one fails, the transaction is rolled back and run
// again with each call in a savepoint, so what the failed call changed is
// undone and the others are unaffected. fn may therefore run twice, and
// must start afresh each time (reset what it collects). Its wake-ups are
// sent once the transaction has committed.
func (s *Store) write(ctx context.Context, fn func(w *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.tx != nil {
		return s.writeInTx(ctx, fn)
	}
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- o:
	case <-s.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the call waits for its answer, even when ctx is done
	// meanwhile: the writer drops a call whose context is done before its
	// transaction starts, and otherwise answers what it committed, which
	// the caller must learn (the jobs a fetch leased) and fn's results
	// must not be read while fn may still run.
	select {
	case err := <-o.done:
		return err
	case <-s.stopped: // closed after the call was queued
		select {
		case err := <-o.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// writer is the store's one writer: it gathers the calls that wait, runs
// them in one transaction and commits once.
func (s *Store) writer(conn *sql.Conn) {
	defer close(s.stopped)
	defer conn.Close()
	w := &wtx{conn: conn, stmts: map[string]*sql.Stmt{}}
	w.walkAlways = s.cfg.walk
	defer func() {
		for _, st := range w.stmts {
			st.Close()
		}
	}()
	batch := make([]*op, 0, s.cfg.batch)
	for {
		batch = batch[:0]
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		case <-s.stop:
			s.drain()
			return
		}
	gather:
		for len(batch) < s.cfg.batch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break gather
			}
		}
		s.commit(w, batch)
	}
}

// drain fails the calls still queued when the store closes.
func (s *Store) drain() {
	for {
		select {
		case o := <-s.ops:
			o.done <- ErrClosed
		default:
			return
		}
	}
}

// commit runs batch in one transaction, retrying it whole while the file
// is locked by another process, and answers each call.
func (s *Store) commit(w *wtx, batch []*op) {
	ctx := context.Background()
	live := func() bool { // drops the calls whose context is done
		n := 0
		for _, o := range batch {
			if err := o.ctx.Err(); err != nil {
				o.done <- err
				continue
			}
			batch[n] = o
			n++
		}
		batch = batch[:n]
		return n > 0
	}
	var errs []error
	for {
		if !live() {
			return
		}
		var err error
		errs, err = s.runBatch(ctx, w, batch)
		if err == nil {
			break
		}
		_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		if !busy(err) {
			for _, o := range batch {
				o.done <- err
			}
			return
		}
		select {
		case <-time.After(time.Millisecond):
		case <-s.stop:
			for _, o := range batch {
				o.done <- ErrClosed
			}
			return
		}
	}
	var wake storage.Topic
	for i, o := range batch {
		if errs[i] == nil {
			wake |= o.wake
		}
	}
	s.subs.wake(wake)
	for i, o := range batch {
		o.done <- errs[i]
	}
}

// runBatch runs the calls of batch in one transaction and commits it. It
// returns each call's own error; the error returned is the
// transaction's, which fails them all.
//
// The calls first run one after another with nothing between them: a
// savepoint per call would copy every page a call changes to the
// statement journal, which costs more than the calls themselves. When one
// fails, the transaction is rolled back and the batch runs again, each
// call in a savepoint of its own, so that the failed call changes nothing
// and the others are unaffected.
func (s *Store) runBatch(ctx context.Context, w *wtx, batch []*op) ([]error, error) {
	w.ctx = ctx
	errs, err := s.runCalls(ctx, w, batch, false)
	if err != nil || errs != nil || len(batch) == 1 {
		return errs, err
	}
	if _, err := w.exec("ROLLBACK"); err != nil {
		return nil, err
	}
	return s.runCalls(ctx, w, batch, true)
}

// runCalls runs the calls of batch in one transaction, each in a savepoint
// when saved is set, and commits it. Without savepoints, the first call to
// fail leaves the transaction open and runCalls returns neither errors nor
// an error: the caller rolls back (a batch of one call is rolled back here,
// and its error returned).
func (s *Store) runCalls(ctx context.Context, w *wtx, batch []*op, saved bool) ([]error, error) {
	if _, err := w.exec("BEGIN IMMEDIATE"); err != nil {
		return nil, err
	}
	w.counters, w.dirty = false, false
	var v int
	if err := w.queryRow("PRAGMA user_version").Scan(&v); err != nil {
		return nil, err
	}
	if v != latestVersion {
		return nil, fmt.Errorf("%w: %s is now at schema version %d, this taskflow uses %d (another taskflow migrated it)", ErrSchemaTooNew, s.path, v, latestVersion)
	}
	errs := make([]error, len(batch))
	var wake storage.Topic
	for i, o := range batch {
		o.wake = 0
		// Statements run under ctx, not the call's context: an interrupted
		// statement would roll back the whole transaction, other calls' work too.
		w.cur, w.ctx = o, ctx
		if !saved {
			errs[i] = o.fn(w)
			if errs[i] != nil {
				if busy(errs[i]) {
					return nil, errs[i]
				}
				if len(batch) > 1 {
					return nil, nil
				}
				_, _ = w.exec("ROLLBACK")
				return errs, nil
			}
			wake |= o.wake
			continue
		}
		if _, err := w.conn.ExecContext(ctx, "SAVEPOINT op"); err != nil {
			return nil, err
		}
		seq, token := w.seq, w.token
		errs[i] = o.fn(w)
		if errs[i] != nil {
			if busy(errs[i]) {
				return nil, errs[i]
			}
			if _, err := w.conn.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
				return nil, err
			}
			w.seq, w.token = seq, token // nothing the call took was written
		} else {
			wake |= o.wake
		}
		if _, err := w.conn.ExecContext(ctx, "RELEASE op"); err != nil {
			return nil, err
		}
	}
	if w.dirty {
		if _, err := w.exec("UPDATE counters SET seq = ?, token = ? WHERE id = 1", w.seq, w.token); err != nil {
			return nil, err
		}
	}
	if wake != 0 {
		if _, err := w.exec(bumpTopicsSQL, bit(wake, storage.TopicEnqueued), bit(wake, storage.TopicScheduled),
			bit(wake, storage.TopicRecurring), bit(wake, storage.TopicFinished)); err != nil {
			return nil, err
		}
	}
	if _, err := w.exec("COMMIT"); err != nil {
		return nil, err
	}
	return errs, nil
}

const bumpTopicsSQL = `UPDATE topics SET enqueued = enqueued + ?, scheduled = scheduled + ?,
	recurring = recurring + ?, finished = finished + ? WHERE id = 1`

func bit(t, b storage.Topic) int {
	if t&b != 0 {
		return 1
	}
	return 0
}

// writeInTx runs fn in the caller's transaction (see WithTx), in a
// savepoint, and records the counters and topics it moved there: the wake-ups
// reach subscribers, in this process and others, through the file watch
// once the caller commits.
func (s *Store) writeInTx(ctx context.Context, fn func(w *wtx) error) error {
	w := &wtx{conn: s.tx, ctx: ctx, cur: &op{}}
	if _, err := s.tx.ExecContext(ctx, "SAVEPOINT taskflow"); err != nil {
		return err
	}
	err := fn(w)
	if err == nil && w.dirty {
		_, err = w.exec("UPDATE counters SET seq = ?, token = ? WHERE id = 1", w.seq, w.token)
	}
	if t := w.cur.wake; err == nil && t != 0 {
		_, err = w.exec(bumpTopicsSQL, bit(t, storage.TopicEnqueued), bit(t, storage.TopicScheduled),
			bit(t, storage.TopicRecurring), bit(t, storage.TopicFinished))
	}
	if err != nil {
		_, _ = s.tx.ExecContext(ctx, "ROLLBACK TO taskflow")
	}
	if _, rerr := s.tx.ExecContext(ctx, "RELEASE taskflow"); err == nil {
		err = rerr
	}
	return err
}

// stmt returns the prepared statement for query, preparing it once.
func (w *wtx) stmt(query string) (*sql.Stmt, error) {
	if w.stmts == nil {
		return nil, nil
	}
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil || st == nil {
		return w.conn.ExecContext(w.ctx, query, args...)
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(query)
	if err != nil || st == nil {
		return w.conn.QueryContext(w.ctx, query, args...)
	}
	return st.QueryContext(w.ctx, args...)
}

func (w *wtx) queryRow(query string, args ...any) *sql.Row {
	st, err := w.stmt(query)
	if err != nil || st == nil {
		return w.conn.QueryRowContext(w.ctx, query, args...) // on a failed prepare, reports the same error
	}
	return st.QueryRowContext(w.ctx, args...)
}

// wake records topics to wake once the transaction commits.
func (w *wtx) wake(t storage.Topic) { w.cur.wake |= t }

// readCounters reads the sequence and token counters once per transaction.
func (w *wtx) readCounters() error {
	if w.counters {
		return nil
	}
	if err := w.queryRow("SELECT seq, token FROM counters WHERE id = 1").Scan(&w.seq, &w.token); err != nil {
		return err
	}
	w.counters = true
	return nil
}

// nextSeq returns the next enqueue sequence number.
func (w *wtx) nextSeq() (int64, error) {
	if err := w.readCounters(); err != nil {
		return 0, err
	}
	w.seq++
	w.dirty = true
	return w.seq, nil
}

// nextToken returns the next fencing token.
func (w *wtx) nextToken() (int64, error) {
	if err := w.readCounters(); err != nil {
		return 0, err
	}
	w.token++
	w.dirty = true
	return w.token, nil
}
