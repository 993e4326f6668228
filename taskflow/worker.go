package taskflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
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
	"github.com/taskflow-go/taskflow/storage"
)

// ErrWorkerRunning is returned by Run on a worker that is already running.
var ErrWorkerRunning = errors.New("taskflow: worker already running")

// WorkerOptions configure a Worker. The zero value is valid: every field
// documents its default.
type WorkerOptions struct {
	// Queues to serve, highest priority first (strict order: a queue is
	// served only while the queues before it have no job ready), unless
	// QueueWeights is set. Default: "default", then
	// the queues the registry's tasks name (Queue given to NewTask or
	// RegisterTask), by name, as the registry holds them when NewWorker
	// is called: a worker left at its default queues serves every task it
	// knows, while jobs sent to a queue no task names need it listed here.
	Queues []string
	// QueueWeights, when set, weighs every queue of Queues instead of
	// serving them in strict order: each fetch orders the queues at
	// random, a queue coming first with a chance proportional to its
	// weight (Asynq's {"critical": 6, "default": 3, "low": 1}). No queue
	// with jobs ready starves.
	QueueWeights map[string]int
	// QueueLimits limits the jobs of a queue across every worker and host,
	// as TaskLimit does a task's. The store enforces them; a store without
	// storage.FlowControl makes Run return an error wrapping
	// ErrNotSupported.
	//
	// Which declaration wins: when it starts, a worker stores the limits
	// of every queue it serves and every task of its Registry, and removes
	// the stored limit of those it declares none for. So when two releases
	// run at once and declare a limit differently, the worker that started
	// last wins, for every worker, until another starts.
	QueueLimits map[string]Limits
	// LocalQueueConcurrency bounds how many jobs of a queue this worker
	// holds (running or leased ahead) at once, under Concurrency: River's
	// MaxWorkers per queue, Asynq's per-queue concurrency. It binds this
	// worker only; QueueLimits binds every worker.
	LocalQueueConcurrency map[string]int
	// Concurrency is how many jobs run at once. Default: 100.
	Concurrency int
	// Registry holds the tasks the worker can run. Default: DefaultRegistry().
	Registry *Registry
	// Filters run for every job, before the task's own filters.
	Filters []filters.Filter
	// Retry is the retry policy of tasks that set none (WithRetry,
	// MaxRetries); its MaxRetries must be 0 or more. Default:
	// filters.DefaultRetry, Hangfire's 10 retries.
	Retry *filters.Retry
	// ID names this worker in leases, its registry entry and the states it
	// records (their ServerID, as Hangfire calls it). Default: host:pid:random.
	ID string
	// FetchBatch is the most jobs leased in one storage call, and the most
	// leased ahead of free slots (the worker leases ahead only as many as it
	// finishes in about 100 ms). Default: 1000.
	FetchBatch int
	// PollInterval is how often an idle worker looks for jobs when the
	// store sends no wake-up. Default: 1s, or 100ms when the store does not
	// implement storage.Notifier.
	PollInterval time.Duration
	// LeaseDuration is how long a fetched job stays leased without renewal.
	// The worker renews the leases of its running jobs every
	// LeaseDuration/3, in its heartbeat's call, so a job of a worker that
	// died is run again within about this time.
	// Default: 30s.
	LeaseDuration time.Duration
	// HeartbeatInterval is how often the worker announces itself and checks
	// its leases, in one storage call; an attempt whose job was taken from
	// it (deleted, requeued, rescheduled, moved to another state, or its
	// lease expired) has its context cancelled at the next heartbeat. Every
	// LeaseDuration/3 the same call also renews the leases. At most
	// LeaseDuration/3 and WorkerTimeout/3. Default: 1s, or the smaller of
	// those bounds.
	HeartbeatInterval time.Duration
	// WorkerTimeout is how long a worker may miss heartbeats before other
	// workers remove it from the registry and requeue its jobs at once (on
	// stores that implement storage.Workers). At least 3 ×
	// HeartbeatInterval, so that a live worker is never taken for dead.
	// Default: 15s, or 3 × HeartbeatInterval if that is longer.
	WorkerTimeout time.Duration
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
	// Events, when set, receives an event when an attempt starts and when
	// each state the worker sets is stored (see Events).
	Events *Events
	// UnknownTaskTimeout is how long a job whose task is not in the
	// registry of the workers that fetch it waits for a worker that knows
	// it, from the first time one did not, before it is Failed with a
	// reason naming the task; meanwhile it is scheduled again, spending no
	// attempt. Negative waits forever. Default: DefaultUnknownTaskTimeout.
	UnknownTaskTimeout time.Duration
	// Client is the client a task gets from ClientFromContext, to enqueue
	// more jobs. Default: a client on the worker's store with its Registry,
	// Filters, Clock, Retention and Events.
	Client *Client
	// JobLogCap is how many records of one attempt Logger stores with the
	// job, on a store that implements storage.JobLogs; negative stores
	// none (they still go to Logger). Default: DefaultJobLogCap.
	JobLogCap int
}

// setDefaults fills in the defaults and refuses settings that cannot work
// together, naming them.
func (o *WorkerOptions) setDefaults(store storage.Store) error {
	if o.Registry == nil {
		o.Registry = DefaultRegistry()
	}
	if len(o.Queues) == 0 {
		o.Queues = append([]string{DefaultQueue}, slices.DeleteFunc(o.Registry.queues(), func(q string) bool { return q == DefaultQueue })...)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 100
	}
	if o.Retry == nil {
		r := filters.DefaultRetry
		o.Retry = &r
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
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
		if o.WorkerTimeout > 0 {
			o.HeartbeatInterval = min(o.HeartbeatInterval, o.WorkerTimeout/3)
		}
	}
	if o.WorkerTimeout <= 0 {
		o.WorkerTimeout = max(15*time.Second, 3*o.HeartbeatInterval)
	}
	switch {
	case o.Retry.MaxRetries < 0:
		return fmt.Errorf("%w: Retry.MaxRetries %d: want 0 or more", ErrInvalidOption, o.Retry.MaxRetries)
	case o.HeartbeatInterval < time.Millisecond:
		return fmt.Errorf("%w: HeartbeatInterval %v is under a millisecond (LeaseDuration %v, WorkerTimeout %v)",
			ErrInvalidOption, o.HeartbeatInterval, o.LeaseDuration, o.WorkerTimeout)
	case 3*o.HeartbeatInterval > o.LeaseDuration:
		return fmt.Errorf("%w: HeartbeatInterval %v is more than LeaseDuration/3 (LeaseDuration %v): leases would expire between renewals",
			ErrInvalidOption, o.HeartbeatInterval, o.LeaseDuration)
	case o.WorkerTimeout < 3*o.HeartbeatInterval:
		return fmt.Errorf("%w: WorkerTimeout %v is less than 3 × HeartbeatInterval (%v): a live worker would be taken for dead",
			ErrInvalidOption, o.WorkerTimeout, o.HeartbeatInterval)
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
	if o.UnknownTaskTimeout == 0 {
		o.UnknownTaskTimeout = DefaultUnknownTaskTimeout
	}
	if o.JobLogCap == 0 {
		o.JobLogCap = DefaultJobLogCap
	}
	o.JobLogCap = max(o.JobLogCap, 0)
	return nil
}

// Worker runs jobs from a store (Hangfire's background job server). Start
// it with Run. Several workers, in one process or many, may serve the same
// store: each job is leased to one of them at a time.
type Worker struct {
	store storage.Store
	opts  WorkerOptions
	log   *slog.Logger

	running    atomic.Bool
	inflight   atomic.Int64    // leased attempts waiting or running
	completing atomic.Int64    // outcomes handed to the completer, not yet stored
	finished   atomic.Int64    // attempts finished since start
	slotFreed  chan struct{}   // an attempt finished or an outcome was stored
	ready      *readyQueue     // fetched attempts waiting for an executor
	bg         context.Context // the maintenance loops' context, done after the executors stop
	comp       *completer.Completer
	runtimes   sync.Map // task name -> *taskRuntime
	// local counts the jobs held of each queue with a
	// LocalQueueConcurrency; set by NewWorker, read-only after.
	local map[string]*atomic.Int64
	// limited says limits may hold jobs back: the idle fetch loop also
	// wakes when a job of its own finishes, and polls every pollEvery: at
	// most limitedPoll (a slot another worker frees sends no wake-up) and
	// the shortest rate interval declared (so rates are used fully).
	limited   bool
	pollEvery time.Duration

	mu sync.Mutex
	// held maps each job this worker holds a lease on to its newest
	// attempt. An older attempt of the same job (the job was requeued and
	// fetched again while it ran) is no longer in it: it has lost its
	// lease and is told so.
	held map[uuid.UUID]*attempt
	// lastFetched is the position of the least urgent job of the fetch
	// loop's last fetch, if fetchedAny.
	lastFetched storage.Position
	fetchedAny  bool
	idle        atomic.Bool     // the fetch loop waits for a wake-up or its poll
	jobLogs     storage.JobLogs // nil: what tasks log is not stored
	journals    journals
	urgentLeft  atomic.Bool // an urgent fetch got all it asked for; more may wait
}

// taskRuntime is what the worker needs to run one task: the erased task (nil
// for an unknown name) and its filter pipeline.
type taskRuntime struct {
	entry *entry
	pipe  *pipeline
}

// NewWorker returns a worker for store. It returns an error wrapping
// ErrInvalidQueue or ErrInvalidOption for a bad option, or for options that
// cannot work together, naming them.
func NewWorker(store storage.Store, opts WorkerOptions) (*Worker, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidOption)
	}
	if err := opts.setDefaults(store); err != nil {
		return nil, err
	}
	for _, q := range opts.Queues {
		if err := ValidateQueue(q); err != nil {
			return nil, err
		}
	}
	if err := opts.validateQueueOptions(); err != nil {
		return nil, err
	}
	for _, f := range opts.Filters {
		if !filters.Valid(f) {
			return nil, fmt.Errorf("%w: %T implements no filter interface", ErrInvalidOption, f)
		}
	}
	if opts.Client == nil {
		c, err := NewClient(store, ClientOptions{Filters: opts.Filters, Clock: opts.Clock, Retention: opts.Retention, Events: opts.Events, Registry: opts.Registry})
		if err != nil {
			return nil, err
		}
		opts.Client = c
	}
	w := &Worker{
		store: store, opts: opts, log: opts.Logger.With("server_id", opts.ID),
		slotFreed: make(chan struct{}, 1), held: map[uuid.UUID]*attempt{},
	}
	for q := range opts.LocalQueueConcurrency {
		if w.local == nil {
			w.local = map[string]*atomic.Int64{}
		}
		w.local[q] = new(atomic.Int64)
	}
	if jl, ok := store.(storage.JobLogs); ok && opts.JobLogCap > 0 {
		w.jobLogs = jl
		w.journals = journals{set: map[*journal]struct{}{}, wake: make(chan struct{}, 1), store: jl, log: w.log}
	}
	return w, nil
}

// completionFlushers is how many completion batches are stored at once.
const completionFlushers = 2

// completionRoom is the most outcomes that may wait to be stored before the
// worker stops fetching: enough to fill every flusher's next batch.
func (w *Worker) completionRoom() int64 {
	return int64(completionFlushers * w.opts.CompletionBatch)
}

// freed tells the fetch loop that room may have freed up.
func (w *Worker) freed() {
	select {
	case w.slotFreed <- struct{}{}:
	default:
	}
}

// ID returns the name this worker leases jobs under.
func (w *Worker) ID() string { return w.opts.ID }

// Run fetches and runs jobs until ctx is done, then stops gracefully: it
// stops fetching, returns jobs it fetched but had not started to their
// queue, lets running jobs finish for up to ShutdownTimeout, then cancels
// their contexts. A job cut short this way is requeued, not failed. Jobs
// that ignore cancellation for another ShutdownTimeout are left leased:
// one that finishes while its lease still holds (the process lives on)
// stores its outcome; otherwise its lease expires and another worker runs
// it. Run returns nil after a graceful stop, and after a stop before its
// first heartbeat.
//
// A task that panics has its panic recovered and recorded (value and
// stack) as a failed attempt; the worker keeps running.
//
// Run returns an error at once, running nothing, when its first call to the
// store fails: the store cannot be reached or is not migrated. Once
// running, it logs failed storage calls and retries them with back-off.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return ErrWorkerRunning
	}
	defer w.running.Store(false)
	o := &w.opts

	// The first heartbeat registers the worker before it fetches, and
	// tells at once a store that cannot be reached or is not migrated.
	limits, err := w.limitsToDeclare()
	if err != nil {
		return err
	}
	info := w.serverInfo()
	if err := w.register(ctx, info); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: nothing ran
		}
		return err
	}
	if err := w.declareLimits(ctx, limits); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: nothing ran
		}
		return err
	}
	w.limited, w.pollEvery = len(w.local) > 0, o.PollInterval
	for _, l := range limits {
		if !l.IsZero() {
			w.limited = true
			w.pollEvery = min(w.pollEvery, limitedPoll)
		}
		if t := l.Interval(); t > 0 {
			w.pollEvery = max(min(w.pollEvery, t), time.Millisecond)
		}
	}
	w.logStart(info)

	// Shut-down order: fetcher (on ctx) → executors → completer → the
	// maintenance loops (bg), last of all the heartbeat.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	w.bg = bg
	jobCtx, cancelJobs := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelJobs(nil)

	// The fetch loop keeps the outcomes waiting to be stored under
	// completionRoom; the queue also has room for every attempt leased,
	// so an executor never waits to hand over an outcome.
	w.comp = completer.New(w.store, o.CompletionBatch, completionFlushers,
		int(w.completionRoom())+o.Concurrency+2*o.FetchBatch, o.Retention, o.Clock, w.log)
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
	if w.jobLogs != nil {
		maint.Go(func() error { w.journals.run(bg); return nil })
	}
	maint.Go(func() error { scheduler.Run(bg, w.store, o.Clock, 5*time.Second, schedWake, w.log); return nil })
	if w.limited && o.Events != nil {
		maint.Go(func() error { w.watchLimits(bg); return nil })
	}
	maint.Go(func() error {
		reaper.Every(bg, max(o.LeaseDuration/6, 100*time.Millisecond), func(ctx context.Context) { _ = reaper.Reclaim(ctx, w.store, o.Clock, w.log) })
		return nil
	})
	maint.Go(func() error {
		reaper.Every(bg, o.PruneInterval, func(ctx context.Context) { _ = reaper.Prune(ctx, w.store, o.Clock, w.log) })
		return nil
	})
	if srv, ok := w.store.(storage.Workers); ok {
		maint.Go(func() error {
			reaper.Every(bg, max(o.WorkerTimeout/3, 100*time.Millisecond), func(ctx context.Context) {
				_ = reaper.RemoveDeadWorkers(ctx, srv, o.WorkerTimeout, w.log)
			})
			return nil
		})
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := srv.RemoveWorker(ctx, o.ID); err != nil {
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
			recurring.Run(bg, rs, o.Clock, 5*time.Second, recurWake, recurringSpawner{w}, w.log)
			return nil
		})
	}
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); w.heartbeat(bg, info) }()

	w.ready = newReadyQueue()
	var execs sync.WaitGroup
	for range o.Concurrency {
		execs.Add(1)
		go func() {
			defer execs.Done()
			for {
				a, ok := w.ready.pop()
				if !ok {
					return
				}
				w.execute(jobCtx, a)
			}
		}()
	}

	w.fetchLoop(ctx, fetchWake)
	w.requeue(w.ready.close(), "worker stopped before the job started", false)

	if !waitTimeout(&execs, o.ShutdownTimeout) {
		w.log.Info("taskflow: shutdown timeout reached; canceling running jobs")
		cancelJobs(ErrWorkerStopped)
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

// logStart says, in one line, what the worker serves, and warns of tasks
// whose queue it does not serve: their jobs would wait for another worker.
func (w *Worker) logStart(info *storage.WorkerInfo) {
	o := &w.opts
	w.log.Info("taskflow: worker started", "queues", o.Queues, "tasks", info.Tasks, "concurrency", o.Concurrency,
		"store", fmt.Sprintf("%T", w.store))
	for _, name := range info.Tasks {
		if e := o.Registry.lookup(name); e != nil && e.opts.queue != "" && !slices.Contains(o.Queues, e.opts.queue) {
			w.log.Warn("taskflow: this worker does not serve the queue of a task it knows; its jobs wait for another worker",
				"task", name, "queue", e.opts.queue, "queues", o.Queues)
		}
	}
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
