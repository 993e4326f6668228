package taskflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/internal/completer"
	"github.com/taskflow-go/taskflow/internal/reaper"
	"github.com/taskflow-go/taskflow/internal/recurring"
	"github.com/taskflow-go/taskflow/internal/scheduler"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// ErrWorkerRunning is returned by Run on a worker that is already running.
var ErrWorkerRunning = errors.New("taskflow: worker already running")

// WorkerOptions configure a Worker. The zero value is valid: every field
// documents its default.
type WorkerOptions struct {
	// Queues to serve, highest priority first. Default: ["default"].
	Queues []string
	// Concurrency is how many jobs run at once. Default: 100.
	Concurrency int
	// Registry holds the tasks the worker can run. Default: DefaultRegistry().
	Registry *Registry
	// Filters run for every job, before the task's own filters.
	Filters []filters.Filter
	// Retry is the retry policy of tasks that set none (WithRetry,
	// MaxRetries). Default: filters.Retry{}, Hangfire's 10 retries.
	Retry *filters.Retry
	// ServerID names this worker in leases and states. Default: host:pid:random.
	ServerID string
	// FetchBatch is the most jobs leased in one storage call, and the most
	// leased ahead of free slots (the worker leases ahead only as many as it
	// finishes in about 100 ms). Default: 1000.
	FetchBatch int
	// PollInterval is how often an idle worker looks for jobs when the
	// store sends no wake-up. Default: 1s, or 100ms when the store does not
	// implement storage.Notifier.
	PollInterval time.Duration
	// LeaseDuration is how long a fetched job stays leased without renewal.
	// The worker renews the leases of its running jobs at every heartbeat,
	// so a job of a worker that died is run again within about this time.
	// Default: 30s.
	LeaseDuration time.Duration
	// HeartbeatInterval is how often the worker announces itself and checks
	// its leases, in one storage call; a job deleted while it runs has its
	// context cancelled at the next heartbeat. Every LeaseDuration/3 the
	// same call also renews the leases. Default: 1s, or LeaseDuration/3 if
	// that is shorter.
	HeartbeatInterval time.Duration
	// ServerTimeout is how long a worker may miss heartbeats before other
	// workers remove it from the registry and requeue its jobs at once (on
	// stores that implement storage.Servers). Default: 15s.
	ServerTimeout time.Duration
	// ShutdownTimeout is how long Run lets running jobs finish after its
	// context is done, before it cancels their contexts. Default: 10s.
	ShutdownTimeout time.Duration
	// Retention is how long Succeeded and Deleted jobs are kept before they
	// are removed. Default: 24h.
	Retention time.Duration
	// PruneInterval is how often expired jobs are removed. Default: 1m.
	PruneInterval time.Duration
	// CompletionBatch is the most state changes stored in one call.
	// Default: 1000.
	CompletionBatch int
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// Logger receives the worker's logs. Default: slog.Default().
	Logger *slog.Logger
}

func (o *WorkerOptions) setDefaults(store storage.Store) {
	if len(o.Queues) == 0 {
		o.Queues = []string{DefaultQueue}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 100
	}
	if o.Registry == nil {
		o.Registry = DefaultRegistry()
	}
	if o.Retry == nil {
		o.Retry = &filters.Retry{}
	}
	if o.ServerID == "" {
		host, _ := os.Hostname()
		o.ServerID = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if o.FetchBatch <= 0 {
		o.FetchBatch = 1000
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
		if _, ok := store.(storage.Notifier); !ok {
			o.PollInterval = 100 * time.Millisecond
		}
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = 30 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = min(time.Second, o.LeaseDuration/3)
	}
	if o.ServerTimeout <= 0 {
		o.ServerTimeout = 15 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.PruneInterval <= 0 {
		o.PruneInterval = time.Minute
	}
	if o.CompletionBatch <= 0 {
		o.CompletionBatch = 1000
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Worker runs jobs from a store (Hangfire's background job server). Start
// it with Run. Several workers, in one process or many, may serve the same
// store: each job is leased to one of them at a time.
type Worker struct {
	store storage.Store
	opts  WorkerOptions
	log   *slog.Logger

	running   atomic.Bool
	inflight  atomic.Int64 // leased jobs not yet finished
	finished  atomic.Int64 // jobs finished since start
	slotFreed chan struct{}
	comp      *completer.Completer
	runtimes  sync.Map // task name -> *taskRuntime

	mu     sync.Mutex
	leases map[uuid.UUID]*lease
}

// lease is a job this worker holds, from fetch until its final state is
// stored.
type lease struct {
	token  int64
	cancel context.CancelFunc // set while the task runs
	lost   atomic.Bool
	job    RunningJob
	ctx    runningCtx // the task's context; lives here to save allocations
}

// taskRuntime is what the worker needs to run one task: the erased task (nil
// for an unknown name) and its filter pipeline.
type taskRuntime struct {
	entry *entry
	pipe  *pipeline
}

// NewWorker returns a worker for store. It returns an error wrapping
// ErrInvalidQueue or ErrInvalidOption for a bad option.
func NewWorker(store storage.Store, opts WorkerOptions) (*Worker, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidOption)
	}
	opts.setDefaults(store)
	for _, q := range opts.Queues {
		if err := ValidateQueue(q); err != nil {
			return nil, err
		}
	}
	for _, f := range opts.Filters {
		if !filters.Valid(f) {
			return nil, fmt.Errorf("%w: %T implements no filter interface", ErrInvalidOption, f)
		}
	}
	return &Worker{
		store: store, opts: opts, log: opts.Logger.With("server_id", opts.ServerID),
		slotFreed: make(chan struct{}, 1), leases: map[uuid.UUID]*lease{},
	}, nil
}

// ServerID returns the name this worker leases jobs under.
func (w *Worker) ServerID() string { return w.opts.ServerID }

// Run fetches and runs jobs until ctx is done, then stops gracefully: it
// stops fetching, returns jobs it fetched but had not started to their
// queue, lets running jobs finish for up to ShutdownTimeout, then cancels
// their contexts. A job cut short this way is requeued, not failed. Jobs
// that ignore cancellation for another ShutdownTimeout are left leased:
// their leases expire and another worker runs them. Run returns nil after a graceful
// stop.
//
// A task that panics has its panic recovered and recorded (value and
// stack) as a failed attempt; the worker keeps running.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return ErrWorkerRunning
	}
	defer w.running.Store(false)
	o := &w.opts

	// Shut-down order: fetcher (on ctx) → executors → completer → the
	// maintenance loops (bg), last of all the heartbeat.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	w.comp = completer.New(w.store, o.CompletionBatch, 2, o.Retention, o.Clock, w.log)
	compDone := make(chan struct{})
	go func() { defer close(compDone); w.comp.Run(bg) }()

	var fetchWake, schedWake <-chan struct{}
	if n, ok := w.store.(storage.Notifier); ok {
		var err error
		if fetchWake, err = n.Subscribe(bg, storage.TopicEnqueued); err != nil {
			w.log.Warn("taskflow: subscribing to wake-ups failed; polling", "err", err)
		}
		if schedWake, err = n.Subscribe(bg, storage.TopicScheduled); err != nil {
			w.log.Warn("taskflow: subscribing to wake-ups failed; polling", "err", err)
		}
	}

	var maint errgroup.Group
	maint.Go(func() error { scheduler.Run(bg, w.store, o.Clock, 5*time.Second, schedWake, w.log); return nil })
	maint.Go(func() error {
		reaper.Every(bg, max(o.LeaseDuration/6, 100*time.Millisecond), func(ctx context.Context) { reaper.Reclaim(ctx, w.store, o.Clock, w.log) })
		return nil
	})
	maint.Go(func() error {
		reaper.Every(bg, o.PruneInterval, func(ctx context.Context) { reaper.Prune(ctx, w.store, o.Clock, w.log) })
		return nil
	})
	if srv, ok := w.store.(storage.Servers); ok {
		maint.Go(func() error {
			reaper.Every(bg, max(o.ServerTimeout/3, 100*time.Millisecond), func(ctx context.Context) {
				reaper.RemoveDeadServers(ctx, srv, o.ServerTimeout, w.log)
			})
			return nil
		})
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := srv.RemoveServer(ctx, o.ServerID); err != nil {
				w.log.Warn("taskflow: unregistering the worker failed", "err", err)
			}
		}()
	}
	if rs, ok := w.store.(storage.Recurring); ok {
		var recurWake <-chan struct{}
		if n, ok := w.store.(storage.Notifier); ok {
			recurWake, _ = n.Subscribe(bg, storage.TopicRecurring)
		}
		maint.Go(func() error {
			recurring.Run(bg, rs, o.Clock, 5*time.Second, recurWake, w.spawnRecurring, w.log)
			return nil
		})
	}
	hbDone, registered := make(chan struct{}), make(chan struct{})
	go func() { defer close(hbDone); w.heartbeat(bg, registered) }()
	select {
	case <-registered:
	case <-ctx.Done():
	}

	jobs := make(chan *storage.Job, o.Concurrency+o.FetchBatch) // fetched jobs wait here for an executor
	var execs sync.WaitGroup
	for range o.Concurrency {
		execs.Add(1)
		go func() {
			defer execs.Done()
			for j := range jobs {
				w.execute(jobCtx, j)
			}
		}()
	}

	w.fetchLoop(ctx, jobs, fetchWake)
	var unstarted []*storage.Job
	for len(jobs) > 0 {
		select {
		case j := <-jobs:
			unstarted = append(unstarted, j)
		default:
		}
	}
	close(jobs)
	w.requeue(unstarted, "worker stopped before the job started")

	if !waitTimeout(&execs, o.ShutdownTimeout) {
		w.log.Info("taskflow: shutdown timeout reached; canceling running jobs")
		cancelJobs()
		if !waitTimeout(&execs, o.ShutdownTimeout) {
			w.log.Warn("taskflow: jobs ignored cancellation; leaving them leased for another worker")
		}
	}
	w.comp.Close()
	select {
	case <-compDone:
	case <-time.After(o.ShutdownTimeout):
		w.log.Warn("taskflow: storing final job states timed out")
	}
	stopBG()
	_ = maint.Wait()
	<-hbDone
	return nil
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// fetchLoop leases jobs while there are free slots and hands them to the
// executors, until ctx is done.
//
// Besides one job per slot it leases ahead about 100 ms of work at the rate
// jobs have been finishing (at most FetchBatch), so that a worker running
// short jobs fetches in large batches, while one running long jobs leases
// next to nothing ahead and leaves the rest to other workers.
func (w *Worker) fetchLoop(ctx context.Context, out chan<- *storage.Job, wake <-chan struct{}) {
	o := &w.opts
	poll := time.NewTimer(0)
	defer poll.Stop()
	backoff := 50 * time.Millisecond
	idle := func(d time.Duration) bool {
		poll.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-wake:
		case <-poll.C:
		}
		return true
	}
	var rate finishRate
	capacity := func() int64 {
		return int64(o.Concurrency) + min(int64(rate.perSecond(w.finished.Load())/10), int64(o.FetchBatch))
	}
	gather := time.NewTimer(0)
	defer gather.Stop()
	for ctx.Err() == nil {
		c := capacity()
		free := c - w.inflight.Load()
		if free <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-w.slotFreed:
			}
			continue
		}
		// Under load, wait briefly for a quarter of the room to free up, so
		// that each storage call leases many jobs instead of a few.
		if minFetch := max(1, c/4); free < minFetch {
			gather.Reset(time.Millisecond)
			for waiting := true; waiting && c-w.inflight.Load() < minFetch; {
				select {
				case <-ctx.Done():
					return
				case <-w.slotFreed:
				case <-gather.C:
					waiting = false
				}
			}
			free = c - w.inflight.Load()
		}
		limit := int(min(free, int64(o.FetchBatch)))
		got, err := w.store.Fetch(ctx, &storage.FetchParams{
			Queues: o.Queues, Limit: limit, Owner: o.ServerID, LeaseFor: o.LeaseDuration, Now: o.Clock(),
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("taskflow: fetching jobs failed", "err", err, "retry_in", backoff)
			if !idle(backoff) {
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		w.inflight.Add(int64(len(got)))
		leases := make([]lease, len(got)) // one allocation per fetch
		w.mu.Lock()
		for i, j := range got {
			l := &leases[i]
			l.token, l.job = j.LeaseToken, RunningJob{ID: j.ID, Task: j.Task, Queue: j.Queue, Attempt: j.Attempt, Params: j.Params}
			w.leases[j.ID] = l
		}
		w.mu.Unlock()
		for i, j := range got {
			select {
			case out <- j:
			case <-ctx.Done():
				w.requeue(got[i:], "worker stopped before the job started")
				return
			}
		}
		if len(got) < limit && !idle(o.PollInterval) {
			return
		}
	}
}

// finishRate estimates how many jobs per second the worker finishes, from
// a counter sampled at least 100 ms apart and smoothed.
type finishRate struct {
	at    time.Time
	count int64
	rate  float64
}

func (r *finishRate) perSecond(count int64) float64 {
	now := time.Now()
	if dt := now.Sub(r.at); dt >= 100*time.Millisecond {
		if !r.at.IsZero() {
			r.rate = (r.rate + float64(count-r.count)/dt.Seconds()) / 2
		}
		r.at, r.count = now, count
	}
	return r.rate
}

// requeue returns leased jobs to their queue.
func (w *Worker) requeue(jobs []*storage.Job, reason string) {
	now := w.opts.Clock()
	for _, j := range jobs {
		st := states.Enqueued{Queue: j.Queue, EnqueuedAt: now, Reason: reason}
		tr, err := w.transition(j, st)
		if err != nil {
			w.log.Error("taskflow: requeue", "job_id", j.ID, "err", err)
			continue
		}
		w.submit(j, tr, st, nil)
	}
}

func (w *Worker) transition(j *storage.Job, s states.State) (storage.Transition, error) {
	data, err := states.Marshal(s)
	if err != nil {
		return storage.Transition{}, err
	}
	return storage.Transition{
		ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken,
		To: s.Name(), Data: data, Reason: s.Why(), Queue: j.Queue,
	}, nil
}

// submit hands a finished job's transition to the completer; once it is
// stored the lease is dropped and apply-state filters run.
func (w *Worker) submit(j *storage.Job, tr storage.Transition, st states.State, pipe *pipeline) {
	ok := w.comp.Submit(completer.Item{T: tr, Done: func(err error) {
		w.mu.Lock()
		delete(w.leases, j.ID)
		w.mu.Unlock()
		switch {
		case err == nil:
			if pipe != nil {
				pipe.applied(context.Background(), j, states.NameProcessing, st)
			}
		case errors.Is(err, storage.ErrLeaseLost), errors.Is(err, storage.ErrStateConflict):
			w.log.Warn("taskflow: job outcome not stored; the job moved on without this worker", "job_id", j.ID, "task", j.Task, "state", tr.To, "err", err)
		default:
			w.log.Error("taskflow: job outcome not stored; it will run again when its lease expires", "job_id", j.ID, "task", j.Task, "err", err)
		}
	}})
	if !ok {
		w.log.Warn("taskflow: job finished after the worker stopped; it will run again when its lease expires", "job_id", j.ID, "task", j.Task)
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
		taskFilters = e.opts.filters
	}
	rt := &taskRuntime{entry: e, pipe: newPipeline([]filters.Filter{retry}, w.opts.Filters, taskFilters)}
	if e == nil {
		return rt // do not cache: the task may be registered later
	}
	actual, _ := w.runtimes.LoadOrStore(name, rt)
	return actual.(*taskRuntime)
}

// execute runs one leased job and submits its outcome.
func (w *Worker) execute(jobCtx context.Context, j *storage.Job) {
	defer func() {
		w.finished.Add(1)
		w.inflight.Add(-1)
		select {
		case w.slotFreed <- struct{}{}:
		default:
		}
	}()
	rt := w.runtime(j.Task)
	cctx, cancel := context.WithCancel(jobCtx)
	defer cancel()
	w.mu.Lock()
	l := w.leases[j.ID]
	l.cancel = cancel
	l.ctx = runningCtx{Context: cctx, job: &l.job}
	if l.lost.Load() { // deleted or requeued before it started
		cancel()
	}
	w.mu.Unlock()
	ctx := context.Context(&l.ctx)

	start := w.opts.Clock()
	result, err, details := w.invoke(ctx, rt, j)
	end := w.opts.Clock()

	switch {
	case l.lost.Load():
		w.log.Warn("taskflow: lease lost while the job ran; another worker may run it", "job_id", j.ID, "task", j.Task)
		w.mu.Lock()
		delete(w.leases, j.ID)
		w.mu.Unlock()
		return
	case err != nil && jobCtx.Err() != nil:
		w.requeue([]*storage.Job{j}, "worker stopped before the job finished")
		return
	}

	var candidate states.State
	if err == nil {
		candidate = states.Succeeded{SucceededAt: end, Result: result, Latency: start.Sub(j.CreatedAt), Duration: end.Sub(start)}
	} else {
		msg := err.Error()
		candidate = states.Failed{
			FailedAt: end, ErrorType: errorType(err), ErrorMessage: msg, ErrorDetails: details,
			ServerID: w.opts.ServerID, Reason: truncate(msg, 200),
		}
	}
	ec := filters.NewElectStateContext(j, states.NameProcessing, candidate, err, end)
	ec.Retention = w.opts.Retention
	if rt.entry != nil && rt.entry.opts.retention > 0 {
		ec.Retention = rt.entry.opts.retention
	}
	tr, terr := rt.pipe.electState(ctx, ec)
	st := ec.Candidate()
	if terr != nil { // a filter elected a state that cannot be encoded
		st = states.Failed{FailedAt: end, ErrorMessage: terr.Error(), ServerID: w.opts.ServerID, Reason: "state could not be stored"}
		tr, terr = w.transition(j, st)
		if terr != nil {
			w.log.Error("taskflow: job outcome lost", "job_id", j.ID, "err", terr)
			return
		}
	}
	tr.From, tr.Token = []states.Name{states.NameProcessing}, j.LeaseToken
	if tr.To.IsFinal() {
		tr.ExpireAt = end.Add(ec.Retention)
	}
	w.submit(j, tr, st, rt.pipe)
}

// invoke runs the task inside the server filters, recovering panics. For
// a panic, details holds the stack.
func (w *Worker) invoke(ctx context.Context, rt *taskRuntime, j *storage.Job) (result []byte, err error, details string) {
	if rt.entry == nil {
		return nil, filters.Permanent(fmt.Errorf("%w %q: no task of that name is registered with this worker", ErrUnknownTask, j.Task)), ""
	}
	d := rt.entry.opts.timeout
	if raw, ok := j.Params[paramTimeout]; ok {
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			d = time.Duration(n)
		}
	}
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if _, ok := j.Params[paramArgsFrom]; ok {
		args, err := w.argsFromParent(ctx, j)
		if err != nil {
			return nil, err, ""
		}
		c := *j
		c.Args = args
		j = &c
	}
	if len(rt.pipe.server) == 0 {
		return call(ctx, rt.entry, j)
	}
	pc := &filters.PerformContext{Job: j}
	err = rt.pipe.perform(ctx, pc, func(ctx context.Context) (err error) {
		pc.Result, err, details = call(ctx, rt.entry, j)
		return err
	})
	return pc.Result, err, details
}

// call runs the task function, turning a panic into an error wrapping
// ErrPanic with the stack in details.
func call(ctx context.Context, e *entry, j *storage.Job) (result []byte, err error, details string) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
			details = string(debug.Stack())
		}
	}()
	result, err = e.run(ctx, j.Args)
	return result, err, ""
}

// argsFromParent returns the result of the job j continues, which is j's
// arguments (see Then).
func (w *Worker) argsFromParent(ctx context.Context, j *storage.Job) ([]byte, error) {
	var parent uuid.UUID
	if err := json.Unmarshal(j.Params[paramArgsFrom], &parent); err != nil {
		return nil, filters.Permanent(fmt.Errorf("%w parameter %s of job %s: %w", ErrDecode, paramArgsFrom, j.ID, err))
	}
	p, err := w.store.Get(ctx, parent)
	if err != nil {
		return nil, fmt.Errorf("taskflow: read result of parent job %s: %w", parent, err)
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

// heartbeat renews the leases of every job the worker holds and announces
// the worker, in one storage call per tick, and cancels jobs whose lease was
// lost (expired, or the job was deleted or requeued meanwhile). The first
// beat happens at once, so the worker is registered before it fetches.
func (w *Worker) heartbeat(ctx context.Context, registered chan<- struct{}) {
	host, _ := os.Hostname()
	info := &storage.ServerInfo{
		ID: w.opts.ServerID, Host: host, PID: os.Getpid(), Queues: w.opts.Queues,
		Concurrency: w.opts.Concurrency, StartedAt: w.opts.Clock(),
	}
	t := time.NewTicker(w.opts.HeartbeatInterval)
	defer t.Stop()
	var renewed time.Time
	for {
		now := w.opts.Clock()
		var until time.Time // zero: check the leases only, a read
		if now.Sub(renewed) >= w.opts.LeaseDuration/3-w.opts.HeartbeatInterval/2 {
			until, renewed = now.Add(w.opts.LeaseDuration), now
		}
		w.beat(ctx, info, until)
		if registered != nil {
			close(registered)
			registered = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) beat(ctx context.Context, info *storage.ServerInfo, until time.Time) {
	w.mu.Lock()
	held := make(map[uuid.UUID]int64, len(w.leases))
	for id, l := range w.leases {
		held[id] = l.token
	}
	w.mu.Unlock()
	lost, err := w.store.ExtendLeases(ctx, &storage.ExtendParams{Owner: w.opts.ServerID, Server: info, Jobs: held, Until: until})
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("taskflow: renewing leases failed", "jobs", len(held), "err", err)
		}
		return
	}
	w.mu.Lock()
	for _, id := range lost {
		if l, ok := w.leases[id]; ok && l.lost.CompareAndSwap(false, true) {
			if l.cancel != nil {
				l.cancel()
			}
		}
	}
	w.mu.Unlock()
}

func errorType(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return fmt.Sprintf("%T", err)
		}
		err = u
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
