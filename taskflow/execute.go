package taskflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/internal/completer"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// attempt is one run of a job on this worker, from fetch until its outcome
// is stored or discarded. Everything about a run lives here and nothing is
// looked up by job ID alone: the worker may hold a newer attempt of the
// same job (requeued, then fetched again) while an old one still runs, and
// the old one must touch nothing of the new.
type attempt struct {
	job   *storage.Job // as fetched: its LeaseToken fences every change
	info  RunningJob
	ctx   runningCtx // the task's context; lives here to save allocations
	queue int        // index of the job's queue in WorkerOptions.Queues
	seq   uint64     // fetch order, for the ready queue

	ran time.Duration // how long the task ran, once it has
	w   *Worker

	journal atomic.Pointer[journal] // made when the task first logs or reports progress
	report  *Ran                    // set by RunNext: told the state stored

	// settled is set once the attempt's outcome is handed over to be
	// stored: from then on the store's answer to it says whether the job
	// was taken from the attempt, and a lease a heartbeat finds gone is
	// the outcome's own doing.
	settled atomic.Bool
	// after, when set, is closed once the state-applied hooks of the
	// job's previous attempt on this worker have run: this attempt's run
	// after them, so that a job's hooks see its states in the order they
	// were stored.
	after <-chan struct{}

	// Guarded by Worker.mu.
	cancel context.CancelCauseFunc // set while the task runs
	lost   error                   // why the job was taken from this attempt; nil while it holds it
	hooked chan struct{}           // made for a newer attempt's after; closed by release
}

// journalOf returns a's journal, made on first use.
func (a *attempt) journalOf() *journal {
	if j := a.journal.Load(); j != nil {
		return j
	}
	a.journal.CompareAndSwap(nil, a.w.newJournal(a))
	return a.journal.Load()
}

// before reports whether a is served before b: the store's fetch order.
func (a *attempt) before(b *attempt) bool {
	if a.queue != b.queue {
		return a.queue < b.queue
	}
	if a.job.Priority != b.job.Priority {
		return a.job.Priority > b.job.Priority
	}
	return a.seq < b.seq
}

// release forgets a's lease, unless a newer attempt of the job holds it,
// and lets the job's next attempt run its hooks: a's have run, or never
// will.
func (w *Worker) release(a *attempt) {
	w.mu.Lock()
	if w.held[a.job.ID] == a {
		delete(w.held, a.job.ID)
	}
	if a.hooked != nil {
		close(a.hooked)
		a.hooked = nil
	}
	w.mu.Unlock()
}

// requeue returns leased jobs to their queue, through election like every
// state change the worker makes. The attempts of jobs that never started
// (ran false) are refunded: they spend no attempt.
func (w *Worker) requeue(atts []*attempt, reason string, ran bool) {
	now := w.opts.Clock()
	for _, a := range atts {
		st := states.Enqueued{Queue: a.job.Queue, EnqueuedAt: now, Reason: reason}
		w.conclude(context.Background(), a, w.runtime(a.job.Task), st, nil, now, settle{refund: !ran})
	}
}

// fromProcessing is the From of every transition that ends an attempt,
// shared by all of them: stores only read it.
var fromProcessing = []states.Name{states.NameProcessing}

func (w *Worker) transition(j *storage.Job, s states.State) (storage.Transition, error) {
	data, err := states.Marshal(s)
	if err != nil {
		return storage.Transition{}, err
	}
	return storage.Transition{
		ID: j.ID, From: fromProcessing, Token: j.LeaseToken, Owner: j.LeaseOwner,
		To: s.Name(), Data: data, Reason: s.Why(), Queue: j.Queue,
	}, nil
}

// submit hands an attempt's transition to the completer (under RunNext,
// it stores it at once); once it is stored the lease is dropped, a failure
// (taskErr) is logged and apply-state filters run.
//
// The hooks of one job run in the order its states were stored: the next
// attempt of the job, fetched once this outcome is stored, may finish
// first, and waits for these hooks before it runs its own.
func (w *Worker) submit(a *attempt, tr storage.Transition, st states.State, pipe *pipeline, taskErr error) {
	j, to := a.job, tr.To // the closure captures only the target state, so tr stays on the stack
	w.completing.Add(1)
	a.settled.Store(true)
	done := func(err error) {
		w.completing.Add(-1)
		defer w.freed()
		defer w.release(a)
		if a.after != nil {
			<-a.after
		}
		if a.report != nil {
			if taskErr != nil {
				a.report.Err = taskErr
			}
			if err == nil {
				a.report.State = st
			}
		}
		switch {
		case err == nil:
			if taskErr != nil {
				w.logFailure(j, st, taskErr)
			}
			if ev := w.opts.Events; ev.active() {
				ev.publish(Event{Kind: eventOf(st, taskErr), JobID: j.ID, Task: j.Task, Queue: j.Queue, Attempt: j.Attempt,
					At: w.opts.Clock(), Duration: a.ran, Err: taskErr, State: st, Worker: w.opts.ID})
			}
			if pipe != nil {
				pipe.applied(context.Background(), j, states.NameProcessing, st)
			}
		case errors.Is(err, storage.ErrLeaseLost), errors.Is(err, storage.ErrStateConflict):
			w.log.Info("taskflow: attempt's outcome discarded: its job was taken from it meanwhile",
				"job_id", j.ID, "task", j.Task, "attempt", j.Attempt, "state", to, "err", err)
			w.mu.Lock()
			w.loseLocked(a, states.NameProcessing) // tells why, unless a heartbeat already did
			w.mu.Unlock()
		default:
			w.log.Error("taskflow: job outcome not stored; it will run again when its lease expires",
				"job_id", j.ID, "task", j.Task, "attempt", j.Attempt, "err", err)
		}
	}
	if a.report != nil { // run by RunNext
		w.storeNow(tr, done)
		return
	}
	if !w.comp.Submit(completer.Item{T: tr, Done: done}) {
		// The job finished after the worker stopped: its lease may still
		// hold, so its outcome is stored all the same (the store refuses
		// it if the lease expired and the job was taken).
		w.log.Warn("taskflow: job finished after the worker stopped; storing its outcome", "job_id", j.ID, "task", j.Task)
		w.storeNow(tr, done)
	}
}

func (w *Worker) runtime(name string) *taskRuntime {
	if rt, ok := w.runtimes.Load(name); ok {
		return rt.(*taskRuntime)
	}
	e := w.opts.Registry.lookup(name)
	retry := *w.opts.Retry
	var taskFilters []filters.Filter
	if e != nil {
		if e.opts.retry != nil {
			retry = *e.opts.retry
		}
		if e.opts.maxRetries != nil {
			retry.MaxRetries = *e.opts.maxRetries
		}
		taskFilters = e.opts.filters
	}
	rt := &taskRuntime{entry: e, pipe: newPipeline([]filters.Filter{retry}, w.opts.Filters, taskFilters)}
	if e == nil {
		return rt // do not cache: the task may be registered later
	}
	actual, _ := w.runtimes.LoadOrStore(name, rt)
	return actual.(*taskRuntime)
}

// execute runs one attempt and submits its outcome, unless the job was
// taken from it meanwhile.
func (w *Worker) execute(jobCtx context.Context, a *attempt) {
	defer func() {
		w.finished.Add(1)
		w.inflight.Add(-1)
		if c := w.local[a.job.Queue]; c != nil {
			c.Add(-1)
		}
		w.freed()
	}()
	j := a.job
	cctx, cancel := context.WithCancelCause(jobCtx)
	defer cancel(nil)
	a.ctx = runningCtx{Context: cctx, a: a}
	w.mu.Lock()
	lost := a.lost
	a.cancel = cancel
	w.mu.Unlock()
	if lost != nil { // taken before it started: nothing to run
		w.log.Info("taskflow: attempt dropped before it started: its job was taken from it",
			"job_id", j.ID, "task", j.Task, "attempt", j.Attempt, "cause", lost)
		w.release(a)
		return
	}
	ctx := context.Context(&a.ctx)

	rt := w.runtime(j.Task)
	if rt.entry == nil {
		w.awaitAnotherWorker(ctx, a, rt)
		return
	}
	var how settle
	if since, ok := j.Params[paramUnknownSince]; ok && string(since) != "null" {
		how.params = clearUnknownSince // a worker knows the task: the wait for one is over
	}
	if ev := w.opts.Events; ev.active() {
		now := w.opts.Clock()
		ev.publish(Event{Kind: EventStarted, JobID: j.ID, Task: j.Task, Queue: j.Queue, Attempt: j.Attempt,
			At: now, Pickup: now.Sub(j.CreatedAt), Worker: w.opts.ID})
	}
	out := w.invoke(ctx, rt, j)
	err := out.err
	a.ran = out.end.Sub(out.start)
	if a.report != nil { // kept even when the job is requeued below
		a.report.Err = err
	}
	if j := a.journal.Load(); j != nil { // the task logged or reported progress
		j.end()
	}

	w.mu.Lock()
	lost, a.cancel = a.lost, nil
	w.mu.Unlock()
	switch {
	case lost != nil:
		w.log.Info("taskflow: attempt's outcome discarded: its job was taken from it while it ran",
			"job_id", j.ID, "task", j.Task, "attempt", j.Attempt, "cause", lost)
		w.release(a)
		return
	case err != nil && jobCtx.Err() != nil:
		w.requeue([]*attempt{a}, "worker stopped before the job finished", true)
		return
	}
	if d, reason, ok := snoozed(rt.entry, err); ok {
		how.refund = true
		var st states.State = states.Enqueued{Queue: j.Queue, EnqueuedAt: out.end, Reason: reason}
		if d > 0 {
			st = states.Scheduled{EnqueueAt: out.end.Add(d), ScheduledAt: out.end, Reason: reason}
		}
		w.conclude(ctx, a, rt, st, nil, out.end, how)
		return
	}
	w.conclude(ctx, a, rt, out.state(j, w.opts.ID), err, out.end, how)
}

// settle is how the transition that ends an attempt stores more than its
// state.
type settle struct {
	// refund gives the attempt back (storage.Transition.Refund): the run
	// did not count, whatever state the filters elect.
	refund bool
	params map[string]json.RawMessage // merged into the job's
}

// outcome is how one run of a task ended.
type outcome struct {
	start, end time.Time
	result     []byte // encoded, when err is nil
	err        error
	details    string // the stack, for a panic
}

// state is the candidate state that outcome o elects for job j, run by
// worker worker.
func (o outcome) state(j *storage.Job, worker string) states.State {
	if o.err == nil {
		return states.Succeeded{SucceededAt: o.end, Result: o.result, Latency: o.start.Sub(j.CreatedAt), Duration: o.end.Sub(o.start)}
	}
	return failure(o.err, o.details, o.end, worker)
}

// conclude elects the state that ends attempt a, from candidate and the
// task's error, and submits it.
func (w *Worker) conclude(ctx context.Context, a *attempt, rt *taskRuntime, candidate states.State, taskErr error, now time.Time, how settle) {
	j := a.job
	ec := filters.NewElectStateContext(filters.NewJob(j), states.NameProcessing, candidate, taskErr, now)
	ec.Retention = w.opts.Retention
	if rt.entry != nil && rt.entry.opts.retention > 0 {
		ec.Retention = rt.entry.opts.retention
	}
	tr, err := rt.pipe.electState(ctx, ec)
	st := ec.Candidate()
	if err != nil { // a filter elected a state that cannot be encoded
		st = states.Failed{FailedAt: now, ErrorMessage: err.Error(), ServerID: w.opts.ID, Reason: "state could not be stored"}
		if tr, err = w.transition(j, st); err != nil {
			w.log.Error("taskflow: job outcome lost", "job_id", j.ID, "err", err)
			w.release(a)
			return
		}
	}
	tr.From, tr.Token, tr.Params = fromProcessing, j.LeaseToken, how.params
	tr.Refund = how.refund
	if tr.To.Expires() {
		tr.ExpireAt = now.Add(ec.Retention)
	}
	w.submit(a, tr, st, rt.pipe, taskErr)
}

// DefaultUnknownTaskTimeout is how long a job whose task the workers that
// fetch it do not know waits for one that does, unless
// WorkerOptions.UnknownTaskTimeout says otherwise. An hour outlasts any
// rolling deploy, in which old workers meet the jobs of tasks only the new
// release has (or the reverse), and still tells of a misspelt task name
// within the hour it was made. A job that runs out of it is Failed, not
// lost: once the task is served, a person requeues it.
const DefaultUnknownTaskTimeout = time.Hour

// clearUnknownSince resets the wait for a worker that knows the task,
// once one ran it.
var clearUnknownSince = map[string]json.RawMessage{paramUnknownSince: json.RawMessage("null")}

// awaitAnotherWorker handles a job whose task this worker does not know,
// as during a rolling deploy: the job is not run but Scheduled again, for
// a worker that knows the task, spending no attempt. The pauses grow with
// the time the job has waited, from min(5s, UnknownTaskTimeout/50) to
// min(1m, UnknownTaskTimeout/10). Once it has waited UnknownTaskTimeout
// (from its first such bounce, kept in a job parameter), the job is Failed,
// with a reason naming the task. Every reason names the task and this
// worker.
func (w *Worker) awaitAnotherWorker(ctx context.Context, a *attempt, rt *taskRuntime) {
	j, now, limit := a.job, w.opts.Clock(), w.opts.UnknownTaskTimeout
	how := settle{refund: true}
	since := now
	if raw, ok := j.Params[paramUnknownSince]; ok {
		var t time.Time
		if json.Unmarshal(raw, &t) == nil && !t.IsZero() && !t.After(now) {
			since = t
		}
	}
	if since.Equal(now) {
		raw, _ := json.Marshal(now)
		how.params = map[string]json.RawMessage{paramUnknownSince: raw}
	}
	waited := now.Sub(since)
	if limit > 0 && waited >= limit {
		err := filters.Permanent(fmt.Errorf("%w %q: no worker that fetched the job knows it, after waiting %v (UnknownTaskTimeout); the last was %s",
			ErrUnknownTask, j.Task, waited.Round(time.Second), w.opts.ID))
		w.log.Error("taskflow: job of a task no worker knows; failing it", "job_id", j.ID, "task", j.Task, "queue", j.Queue, "waited", waited)
		st := failure(err, "", now, w.opts.ID)
		st.Reason = truncate(fmt.Sprintf("unknown task %q", j.Task), 200)
		how.params = clearUnknownSince // requeued by a person, it gets a wait of its own
		w.conclude(ctx, a, rt, st, err, now, how)
		return
	}
	lo, hi := 5*time.Second, time.Minute
	if limit > 0 {
		lo, hi = min(lo, limit/50), min(hi, limit/10)
	}
	pause := min(max(waited/2, lo), hi)
	reason := fmt.Sprintf("%v %q: not registered with worker %s; waiting for a worker that knows it", ErrUnknownTask, j.Task, w.opts.ID)
	w.log.Warn("taskflow: job of a task this worker does not know; scheduled again for another worker",
		"job_id", j.ID, "task", j.Task, "queue", j.Queue, "waited", waited, "run_at", now.Add(pause))
	w.conclude(ctx, a, rt, states.Scheduled{EnqueueAt: now.Add(pause), ScheduledAt: now, Reason: reason}, nil, now, how)
}

// logFailure logs a failed attempt once its outcome is stored: a warning
// when the job will run again, an error when it will not.
func (w *Worker) logFailure(j *storage.Job, st states.State, err error) {
	level, msg := slog.LevelWarn, "taskflow: job attempt failed; it will run again"
	switch st.Name() {
	case states.NameFailed, states.NameDeleted:
		level, msg = slog.LevelError, "taskflow: job failed"
	}
	w.log.Log(context.Background(), level, msg, "job_id", j.ID, "task", j.Task, "queue", j.Queue,
		"attempt", j.Attempt, "state", st.Name(), "reason", st.Why(), "panic", errors.Is(err, ErrPanic), "err", err)
}

// invoke runs the task inside the server filters, recovering panics, and
// returns how it ended, timed by the worker's clock.
func (w *Worker) invoke(ctx context.Context, rt *taskRuntime, j *storage.Job) outcome {
	start := w.opts.Clock()
	result, details, err := w.perform(ctx, rt, j)
	return outcome{start: start, end: w.opts.Clock(), result: result, err: err, details: details}
}

// perform applies the job's timeout and the server filters around call.
func (w *Worker) perform(ctx context.Context, rt *taskRuntime, j *storage.Job) (result []byte, details string, err error) {
	d := rt.entry.opts.timeout
	if raw, ok := j.Params[paramTimeout]; ok {
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			d = time.Duration(n)
		}
	}
	if d > 0 {
		var cancel context.CancelFunc
		timeout := &timeoutError{limit: d}
		ctx, cancel = context.WithTimeoutCause(ctx, d, timeout)
		defer cancel()
		defer func() {
			if err != nil && context.Cause(ctx) == timeout { // the attempt ran out of time
				err = &timeoutError{limit: d, err: err}
			}
		}()
	}
	if _, ok := j.Params[paramArgsFrom]; ok { // a continuation stored before stores copied the result
		args, err := w.argsFromParent(ctx, j)
		if err != nil {
			return nil, "", err
		}
		c := *j
		c.Args = args
		j = &c
	}
	if len(rt.pipe.server) == 0 {
		return call(ctx, rt.entry, j)
	}
	return performFiltered(ctx, rt, j)
}

// performFiltered runs the task inside the server filters.
func performFiltered(ctx context.Context, rt *taskRuntime, j *storage.Job) (result []byte, details string, err error) {
	c := chains.Get().(*performChain)
	c.pc, c.server, c.entry, c.job = filters.PerformContext{Job: filters.NewJob(j)}, rt.pipe.server, rt.entry, j
	err = c.run(ctx)
	result, details = c.pc.Result, c.details
	*c = performChain{next: c.next}
	chains.Put(c)
	return result, details, err
}

// chains reuses performChains, which would otherwise cost two allocations
// per attempt.
var chains = sync.Pool{New: func() any {
	c := &performChain{}
	c.next = c.run
	return c
}}

// performChain runs the server filters around the task, the first filter
// outermost. A filter must not keep the next function it is given once its
// OnPerform has returned.
type performChain struct {
	pc      filters.PerformContext
	server  []filters.ServerFilter
	entry   *entry
	job     *storage.Job
	details string
	depth   int                             // the filter that run calls next
	next    func(ctx context.Context) error // run, as a value
}

// run calls the filter at depth, or the task once every filter has called
// next. A filter may call next more than once, one call after another.
func (c *performChain) run(ctx context.Context) (err error) {
	d := c.depth
	if d == len(c.server) {
		c.pc.Result, c.details, err = call(ctx, c.entry, c.job)
		return err
	}
	c.depth = d + 1
	err = c.server[d].OnPerform(ctx, &c.pc, c.next)
	c.depth = d
	return err
}

// call runs the task function, turning a panic into an error wrapping
// ErrPanic with the stack in details.
func call(ctx context.Context, e *entry, j *storage.Job) (result []byte, details string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r}
			details = string(debug.Stack())
		}
	}()
	result, err = e.run(ctx, j.Args)
	return result, "", err
}

// argsFromParent returns the result of the job j continues, which is j's
// arguments, for a Then continuation stored by a release that named its
// parent in the parameter taskflow.args_from instead of having the store
// copy the result (see states.Awaiting.ArgsFromResult).
func (w *Worker) argsFromParent(ctx context.Context, j *storage.Job) ([]byte, error) {
	var parent uuid.UUID
	if err := json.Unmarshal(j.Params[paramArgsFrom], &parent); err != nil {
		return nil, badInput(fmt.Errorf("%w parameter %s of job %s: %w", ErrDecode, paramArgsFrom, j.ID, err))
	}
	p, err := w.store.Get(ctx, parent)
	if err != nil {
		return nil, jobError("read the result of parent", parent, err)
	}
	st, err := p.CurrentState()
	if err != nil {
		return nil, err
	}
	s, ok := st.(states.Succeeded)
	if !ok {
		return nil, filters.Permanent(fmt.Errorf("taskflow: parent job %s is %s, so it has no result", parent, p.State))
	}
	return s.Result, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
