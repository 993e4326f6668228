package taskflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/storage"
)

// DefaultJobLogCap is how many records of one attempt Logger stores with
// the job, unless WorkerOptions.JobLogCap says otherwise: the first ones
// are kept, and a last record says how many more were not.
const DefaultJobLogCap = 100

// journalFlushEvery is how often a worker stores what its tasks logged and
// their progress, all attempts in one call each: a task that logs or
// reports progress in a tight loop costs the store a write per interval,
// not per call.
const journalFlushEvery = 500 * time.Millisecond

type journalKey struct{}

// Logger returns a logger for the task running in ctx: its records go to
// the worker's logger, with the job's ID, task, queue and attempt, and,
// on a store that implements storage.JobLogs, are stored with the job (at
// most WorkerOptions.JobLogCap per attempt) and returned by Client.Job.
// Outside a task it returns slog.Default().
func Logger(ctx context.Context) *slog.Logger {
	if j, ok := ctx.Value(journalKey{}).(*journal); ok {
		return j.logger
	}
	return slog.Default()
}

// SetProgress records how far the task running in ctx has got: percent
// (clamped to 0..100) and a message. On a store that implements
// storage.JobLogs it is stored, at most every half second (the latest
// value wins), and stays with the job once it has finished; Client.Job
// returns it. Outside a task it does nothing.
func SetProgress(ctx context.Context, percent int, message string) {
	j, ok := ctx.Value(journalKey{}).(*journal)
	if !ok || j.w.jobLogs == nil {
		return
	}
	p := storage.Progress{JobID: j.a.job.ID, Attempt: j.a.job.Attempt, Percent: min(max(percent, 0), 100), Message: message, At: j.w.opts.Clock()}
	j.mu.Lock()
	j.progress = &p
	j.mu.Unlock()
	j.w.journals.dirty(j)
}

// journal is what one attempt logged and reported, waiting to be stored.
type journal struct {
	w      *Worker
	a      *attempt
	logger *slog.Logger

	mu       sync.Mutex
	pending  []storage.LogRecord
	kept     int // records accepted this attempt
	cut      int // records over the cap, not kept
	progress *storage.Progress
	done     bool // the attempt has ended: store the rest, and the cut marker
}

func (w *Worker) newJournal(a *attempt) *journal {
	j := &journal{w: w, a: a}
	h := w.log.Handler().WithAttrs([]slog.Attr{
		slog.String("job_id", a.job.ID.String()), slog.String("task", a.job.Task),
		slog.String("queue", a.job.Queue), slog.Int("attempt", a.job.Attempt),
	})
	j.logger = slog.New(&journalHandler{inner: h, j: j})
	return j
}

// add keeps r unless the attempt's cap is reached.
func (j *journal) add(r storage.LogRecord) {
	if j.w.jobLogs == nil {
		return
	}
	j.mu.Lock()
	if j.kept >= j.w.opts.JobLogCap {
		j.cut++
		j.mu.Unlock()
		return
	}
	j.kept++
	j.pending = append(j.pending, r)
	j.mu.Unlock()
	j.w.journals.dirty(j)
}

// end marks the attempt ended, so the next flush stores all it has left.
func (j *journal) end() {
	if j.w.jobLogs == nil {
		return
	}
	j.mu.Lock()
	j.done = true
	if j.cut > 0 {
		j.pending = append(j.pending, storage.LogRecord{
			JobID: j.a.job.ID, Attempt: j.a.job.Attempt, At: j.w.opts.Clock(), Level: slog.LevelWarn.String(),
			Message: fmt.Sprintf("taskflow: %d more records of this attempt were not kept (JobLogCap %d)", j.cut, j.w.opts.JobLogCap),
		})
	}
	j.mu.Unlock()
	j.w.journals.dirty(j)
	j.w.journals.poke()
}

// journals are the attempts' journals with something to store, in the
// order they first had something since the last flush: an attempt's
// journal comes before the next attempt's of the same job (which starts
// only once the first has ended), so a flush stores a job's records in
// attempt order, and its progress last from the latest attempt.
type journals struct {
	mu    sync.Mutex
	set   map[*journal]struct{}
	order []*journal // the journals of set, in the order they joined it
	wake  chan struct{}
	store storage.JobLogs
	log   *slog.Logger
}

func (js *journals) dirty(j *journal) {
	js.mu.Lock()
	if _, ok := js.set[j]; !ok {
		js.set[j] = struct{}{}
		js.order = append(js.order, j)
	}
	js.mu.Unlock()
}

func (js *journals) poke() {
	select {
	case js.wake <- struct{}{}:
	default:
	}
}

// run stores what the journals hold every journalFlushEvery, and when an
// attempt ends, until ctx is done; then once more.
func (js *journals) run(ctx context.Context) {
	t := time.NewTicker(journalFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			js.flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
		case <-js.wake:
		}
		js.flush(ctx)
	}
}

func (js *journals) flush(ctx context.Context) {
	js.mu.Lock()
	order := js.order
	clear(js.set)
	js.order = nil
	js.mu.Unlock()
	var records []storage.LogRecord
	var progress []storage.Progress
	latest := map[uuid.UUID]int{} // job → its entry in progress
	for _, j := range order {
		j.mu.Lock()
		records = append(records, j.pending...)
		j.pending = nil
		if p := j.progress; p != nil {
			if i, ok := latest[p.JobID]; ok {
				progress[i] = *p // a later attempt's
			} else {
				latest[p.JobID] = len(progress)
				progress = append(progress, *p)
			}
			j.progress = nil
		}
		j.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := js.store.AppendLogs(ctx, records); err != nil {
		js.log.Warn("taskflow: storing what tasks logged failed; those records are lost", "records", len(records), "err", err)
	}
	if err := js.store.SetProgress(ctx, progress); err != nil {
		js.log.Warn("taskflow: storing the progress of jobs failed", "jobs", len(progress), "err", err)
	}
}

// journalHandler sends records to the worker's handler and keeps them in
// the attempt's journal.
type journalHandler struct {
	inner  slog.Handler
	j      *journal
	attrs  []slog.Attr // given to WithAttrs, keys prefixed by their groups
	prefix string      // groups opened by WithGroup, dot-joined
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	attrs := map[string]any{}
	for _, a := range h.attrs {
		attrs[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		attrs[h.prefix+a.Key] = a.Value.Resolve().Any()
		return true
	})
	// Stamped by the worker's clock, as every time it stores is, not the
	// record's wall-clock time.
	rec := storage.LogRecord{JobID: h.j.a.job.ID, Attempt: h.j.a.job.Attempt, At: h.j.w.opts.Clock(), Level: r.Level.String(), Message: r.Message}
	if len(attrs) > 0 {
		b, err := json.Marshal(attrs)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"attrs": fmt.Sprint(attrs)})
		}
		rec.Attrs = b
	}
	h.j.add(rec)
	if h.inner.Enabled(ctx, r.Level) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		c.attrs = append(c.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	return &c
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}
