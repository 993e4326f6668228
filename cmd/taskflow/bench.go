package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/storage/redisstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

type benchConfig struct {
	store, database, redis, schema, mode string
	file                                 string
	cpuProfile                           string
	memProfile                           string
	keep                                 bool
	n, concurrency, batch                int
	fetchBatch, shards                   int
	duration, retention                  time.Duration
	rate, traceSample                    float64
	observe                              bool
}

// applicationName is the application_name of the command's connections
// unless the database URL sets one; bench's CPU meter finds them by it.
const applicationName = "taskflow"

var modes = []string{"burndown", "continuous", "latency", "single", "priority"}

var benchCommand = &command{
	name: "bench", summary: "Measure how fast taskflow inserts and works no-op jobs",
	args: "[--store memory|sqlite|postgres|redis] [--mode M] [flags]",
	help: `bench runs no-op jobs through a store and a worker, using only the public
API. Progress goes to stderr every second, the summary to stdout. Modes:

  burndown    insert -n jobs in batches of -batch (EnqueueMany), report
              inserts/s, then start a worker and report how fast it works them.
  continuous  producers insert in batches while a worker works, for -duration;
              report worked and inserted jobs/s and the heap in use at start
              and end (finished jobs expire, so the heap should stay flat).
  latency     enqueue one job at a time at -rate jobs/s for -duration and
              report percentiles of the time from Enqueue to the task's start.
  single      for -duration, insert one job per Enqueue call from -concurrency
              goroutines (default 1); report jobs/s.
  priority    work a backlog of -n jobs at priority 0 and, once the worker
              runs at full speed, enqueue 100 at priority 10, one at a time;
              report how long each waited to start.

On PostgreSQL, bench migrates a fresh schema bench_<random> and drops it at
the end unless -keep is given; with -schema NAME it uses that schema and never
drops it. On Redis (-redis defaults to $TASKFLOW_REDIS_ADDR, else
127.0.0.1:6379; several comma-separated addresses mean a Redis Cluster)
-schema names the store instead, whose keys are deleted at the end in the
same way; burndown mode also reports Redis' memory and CPU per job.`,
	define: func(fs *flag.FlagSet, e *env) action {
		c := benchFlags(fs)
		return func(ctx context.Context, args []string) error {
			if err := noArgs("bench", args); err != nil {
				return err
			}
			if err := c.check(); err != nil {
				return err
			}
			return bench(ctx, c, e.stdout, e.stderr)
		}
	},
}

// benchFlags defines bench's flags on fs and returns where they go.
func benchFlags(fs *flag.FlagSet) *benchConfig {
	c := &benchConfig{}
	fs.StringVar(&c.store, "store", "memory", "store: memory, sqlite, postgres or redis")
	fs.StringVar(&c.file, "file", "", "SQLite file to use and keep (default: a fresh file in a temporary directory, removed at the end)")
	fs.StringVar(&c.database, "database", "", "PostgreSQL `URL` (default $TASKFLOW_DATABASE_URL)")
	fs.StringVar(&c.redis, "redis", redisAddrDefault(), "Redis address host:port, or several, comma-separated, of a Redis Cluster (default $TASKFLOW_REDIS_ADDR, else 127.0.0.1:6379)")
	fs.IntVar(&c.shards, "shards", 1, "Redis store's shards (redisstore.NewSharded above 1): one queue spreads over that many cluster slots")
	fs.StringVar(&c.schema, "schema", "", "PostgreSQL schema, or Redis store name, to use and keep (default: a fresh bench_<random>, dropped at the end)")
	fs.BoolVar(&c.keep, "keep", false, "keep the fresh PostgreSQL schema or Redis store")
	fs.StringVar(&c.mode, "mode", "burndown", "burndown, continuous, latency, single or priority")
	fs.IntVar(&c.n, "n", 100_000, "jobs to insert in burndown mode, low priority jobs in priority mode")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long continuous, latency and single modes run")
	fs.Float64Var(&c.rate, "rate", 300, "jobs enqueued per second in latency mode")
	fs.IntVar(&c.concurrency, "concurrency", 0, "worker concurrency (0: taskflow's default); inserting goroutines in single mode (0: 1)")
	fs.IntVar(&c.batch, "batch", 1000, "jobs per EnqueueMany call")
	fs.IntVar(&c.fetchBatch, "fetch-batch", 0, "the worker's FetchBatch (0: taskflow's default)")
	fs.DurationVar(&c.retention, "retention", 0, "how long finished jobs are kept in continuous mode, pruned every retention/2 (0: 1s on memory, so that the heap stays flat; the worker's default on postgres)")
	fs.BoolVar(&c.observe, "observe", false, "turn on events read by the Prometheus collector and OpenTelemetry metrics, and tracing")
	fs.Float64Var(&c.traceSample, "trace-sample", 0.01, "with -observe, the share of traces sampled")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed phase (the work phase in burndown mode) to this file")
	fs.StringVar(&c.memProfile, "memprofile", "", "write a profile of the allocations of the timed phase to this file")
	return c
}

// check returns a usage error naming a bad flag value.
func (c *benchConfig) check() error {
	switch {
	case !slices.Contains([]string{"memory", "sqlite", "postgres", "redis"}, c.store):
		return fmt.Errorf("%w: bench: -store %q: want memory, sqlite, postgres or redis", errUsage, c.store)
	case !slices.Contains(modes, c.mode):
		return fmt.Errorf("%w: bench: -mode %q: want one of %v", errUsage, c.mode, modes)
	case c.n <= 0:
		return fmt.Errorf("%w: bench: -n must be positive", errUsage)
	case c.shards < 1 || c.shards > redisstore.MaxShards:
		return fmt.Errorf("%w: bench: -shards must be 1 to %d", errUsage, redisstore.MaxShards)
	case c.batch <= 0:
		return fmt.Errorf("%w: bench: -batch must be positive", errUsage)
	case c.duration <= 0:
		return fmt.Errorf("%w: bench: -duration must be positive", errUsage)
	case c.rate <= 0:
		return fmt.Errorf("%w: bench: -rate must be positive", errUsage)
	case c.retention < 0:
		return fmt.Errorf("%w: bench: -retention must not be negative", errUsage)
	case c.fetchBatch < 0:
		return fmt.Errorf("%w: bench: -fetch-batch must not be negative", errUsage)
	case c.traceSample < 0 || c.traceSample > 1:
		return fmt.Errorf("%w: bench: -trace-sample must be between 0 and 1", errUsage)
	case c.concurrency < 0:
		return fmt.Errorf("%w: bench: -concurrency must not be negative", errUsage)
	}
	return nil
}

// jobArgs are a bench job's arguments; At is set in latency mode only.
type jobArgs struct {
	N  int       `json:"n"`
	At time.Time `json:"at,omitzero"`
}

// benchEnv is one bench run: a store, a client, the no-op task and what
// the runs of that task record.
type benchEnv struct {
	filters.Defaults // it counts outcomes as an apply-state filter
	cfg              *benchConfig
	store            storage.Store
	reg              *taskflow.Registry
	client           *taskflow.Client
	task             taskflow.Bound[jobArgs, struct{}]
	stderr           io.Writer
	obs              *observed     // with -observe
	pool             *pgxpool.Pool // the postgres store's
	// redisMemory and redisCPU, set on Redis, read the server's
	// used_memory and the CPU time it has used.
	redisMemory func(context.Context) (int64, error)
	redisCPU    func(context.Context) ([]time.Duration, error) // one per master

	done     atomic.Int64 // jobs stored as Succeeded
	target   atomic.Int64 // done count that closes reached; 0 for none
	reached  chan struct{}
	mu       sync.Mutex
	latency  []time.Duration // enqueue → start, latency mode
	inserted atomic.Int64
}

// OnStateApplied counts Succeeded jobs; it makes benchEnv an apply-state
// filter of the worker.
func (e *benchEnv) OnStateApplied(_ context.Context, a *filters.ApplyStateContext) {
	if a.State.Name() == states.NameSucceeded && e.done.Add(1) == e.target.Load() {
		close(e.reached)
	}
}

func (e *benchEnv) run(_ context.Context, a jobArgs) (struct{}, error) {
	if !a.At.IsZero() {
		d := time.Since(a.At)
		e.mu.Lock()
		e.latency = append(e.latency, d)
		e.mu.Unlock()
	}
	return struct{}{}, nil
}

func bench(ctx context.Context, cfg *benchConfig, stdout, stderr io.Writer) error {
	e := &benchEnv{cfg: cfg, stderr: stderr, reached: make(chan struct{}), reg: taskflow.NewRegistry()}
	task, err := taskflow.RegisterTask(e.reg, "bench-noop", e.run)
	if err != nil {
		return err
	}
	cleanup, err := e.openStore(ctx, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	var copts taskflow.ClientOptions
	if cfg.observe {
		if e.obs, err = observe(cfg.traceSample, nil); err != nil {
			return err
		}
		defer e.obs.close()
		copts.Events, copts.Filters = e.obs.hub, e.obs.filters
	}
	if e.client, err = taskflow.NewClient(e.store, copts); err != nil {
		return err
	}
	e.task = task.On(e.client)
	fmt.Fprintf(stdout, "store=%s mode=%s observe=%t GOMAXPROCS=%d %s\n", cfg.store, cfg.mode, cfg.observe, runtime.GOMAXPROCS(0), runtime.Version())
	switch cfg.mode {
	case "burndown":
		return e.burndown(ctx, stdout)
	case "continuous":
		return e.continuous(ctx, stdout)
	case "latency":
		return e.latencyRun(ctx, stdout)
	case "priority":
		return e.priorityRun(ctx, stdout)
	default:
		return e.single(ctx, stdout)
	}
}

// openStore sets e.store and returns what undoes it.
func (e *benchEnv) openStore(ctx context.Context, stderr io.Writer) (func(), error) {
	switch e.cfg.store {
	case "memory":
		e.store = memstore.New()
		return func() {}, nil
	case "redis":
		return e.openRedis(ctx, stderr)
	case "sqlite":
		return e.openSQLite(ctx, stderr)
	}
	pool, err := connect(ctx, e.cfg.database)
	if err != nil {
		return nil, err
	}
	schema, drop := e.cfg.schema, e.cfg.schema == "" && !e.cfg.keep
	if schema == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		schema = "bench_" + hex.EncodeToString(b)
	}
	if err := pgstore.Migrate(ctx, pool, pgstore.Schema(schema)); err != nil {
		pool.Close()
		return nil, err
	}
	fmt.Fprintf(stderr, "using schema %s (pool max %d connections)\n", schema, pool.Config().MaxConns)
	e.store, e.pool = pgstore.New(pool, pgstore.Schema(schema)), pool
	return func() {
		if drop {
			c, cancel := context.WithTimeout(context.Background(), time.Minute)
			if _, err := pool.Exec(c, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
				fmt.Fprintf(stderr, "drop schema %s: %v\n", schema, err)
			}
			cancel()
		} else {
			fmt.Fprintf(stderr, "kept schema %s\n", schema)
		}
		pool.Close()
	}, nil
}

// startWorker runs a worker until the returned stop is called.
func (e *benchEnv) startWorker(opts taskflow.WorkerOptions) (stop func() error, err error) {
	opts.Registry, opts.Concurrency, opts.FetchBatch = e.reg, e.cfg.concurrency, e.cfg.fetchBatch
	opts.Filters = []filters.Filter{e}
	if e.obs != nil {
		opts.Events, opts.Filters = e.obs.hub, append(opts.Filters, e.obs.filters...)
	}
	opts.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := taskflow.NewWorker(e.store, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- w.Run(ctx) }()
	return func() error { cancel(); return <-res }, nil
}

// progress prints counters to stderr every second until the returned stop
// is called.
func (e *benchEnv) progress(label string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, lastDone, lastIns := time.Now(), e.done.Load(), e.inserted.Load()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				d, ins := e.done.Load(), e.inserted.Load()
				fmt.Fprintf(e.stderr, "%s %4.0fs  done %9d (%7d/s)  inserted %9d (%7d/s)\n", label,
					now.Sub(start).Seconds(), d, d-lastDone, ins, ins-lastIns)
				lastDone, lastIns = d, ins
			}
		}
	}()
	return func() { cancel(); <-stopped }
}

func (e *benchEnv) burndown(ctx context.Context, out io.Writer) error {
	n := e.cfg.n
	args := make([]jobArgs, min(e.cfg.batch, n))
	mem0, err := e.memory(ctx)
	if err != nil {
		return err
	}
	cpu0, err := e.serverCPU(ctx)
	if err != nil {
		return err
	}
	stopProgress := e.progress("insert")
	start := time.Now()
	for i := 0; i < n; i += len(args) {
		if _, err := e.task.EnqueueMany(ctx, args[:min(len(args), n-i)]); err != nil {
			stopProgress()
			return err
		}
		e.inserted.Add(int64(min(len(args), n-i)))
	}
	insertTime := time.Since(start)
	stopProgress()
	report(out, "bulk insert", n, insertTime)
	mem1, err := e.memory(ctx)
	if err != nil {
		return err
	}
	cpu1, err := e.serverCPU(ctx)
	if err != nil {
		return err
	}

	e.target.Store(int64(n))
	stopProfile, err := e.profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	stopProgress = e.progress("work")
	defer stopProgress()
	start, cpu := time.Now(), startCPU(e.pool)
	stop, err := e.startWorker(taskflow.WorkerOptions{})
	if err != nil {
		return err
	}
	defer stop()
	select {
	case <-e.reached:
	case <-ctx.Done():
		return ctx.Err()
	}
	report(out, "work", n, time.Since(start))
	cpu.report(ctx, out, n)
	if e.redisMemory != nil {
		cpu2, err := e.serverCPU(ctx)
		if err != nil {
			return err
		}
		mem2, err := e.memory(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "redis memory per job: %.0f B pending, %.0f B finished (retained with its history)\n",
			float64(mem1-mem0)/float64(n), float64(mem2-mem0)/float64(n))
		perJob := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
		fmt.Fprintf(out, "redis CPU per job: %.1f µs insert, %.1f µs work\n",
			perJob(sumCPU(cpu1)-sumCPU(cpu0)), perJob(sumCPU(cpu2)-sumCPU(cpu1)))
		if len(cpu0) > 1 {
			var insert, work time.Duration
			for i := range cpu0 {
				insert, work = max(insert, cpu1[i]-cpu0[i]), max(work, cpu2[i]-cpu1[i])
			}
			fmt.Fprintf(out, "redis CPU per job on the busiest of %d masters: %.1f µs insert, %.1f µs work\n",
				len(cpu0), perJob(insert), perJob(work))
		}
	}
	return nil
}

// memory returns Redis' used_memory, or 0 on other stores.
func (e *benchEnv) memory(ctx context.Context) (int64, error) {
	if e.redisMemory == nil {
		return 0, nil
	}
	return e.redisMemory(ctx)
}

// serverCPU returns the CPU time each Redis master has used, or nothing on
// other stores.
func (e *benchEnv) serverCPU(ctx context.Context) ([]time.Duration, error) {
	if e.redisCPU == nil {
		return nil, nil
	}
	return e.redisCPU(ctx)
}

// sumCPU returns the sum of CPU times.
func sumCPU(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

func (e *benchEnv) continuous(ctx context.Context, out io.Writer) error {
	var opts taskflow.WorkerOptions
	switch r := e.cfg.retention; {
	case r > 0:
		opts.Retention, opts.PruneInterval = r, r/2
	case e.cfg.store == "memory":
		opts.Retention, opts.PruneInterval = time.Second, 500*time.Millisecond
	}
	stop, err := e.startWorker(opts)
	if err != nil {
		return err
	}
	defer stop()
	heapStart := heapInUse()
	stopProfile, err := e.profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	// Producers keep the backlog (inserted but not done) under maxBacklog, so
	// the run measures the worker, not an ever-growing queue.
	const producers = 2
	maxBacklog := int64(max(20_000, 4*e.cfg.batch))
	runCtx, cancel := context.WithTimeout(ctx, e.cfg.duration)
	defer cancel()
	stopProgress := e.progress("continuous")
	start, done0, cpu := time.Now(), e.done.Load(), startCPU(e.pool) // cpu: inserting and working, per job worked
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for range producers {
		wg.Go(func() {
			args := make([]jobArgs, e.cfg.batch)
			for runCtx.Err() == nil {
				if e.inserted.Load()-e.done.Load() > maxBacklog {
					time.Sleep(time.Millisecond)
					continue
				}
				if _, err := e.task.EnqueueMany(runCtx, args); err != nil {
					if runCtx.Err() == nil {
						errs <- err
						cancel()
					}
					return
				}
				e.inserted.Add(int64(len(args)))
			}
		})
	}
	// The heap at each quarter: flat once retention and pruning reached a
	// steady state.
	heaps := []string{fmt.Sprintf("start %.1f", mib(heapStart))}
	for q := 1; q < 4; q++ {
		select {
		case <-runCtx.Done():
		case <-time.After(time.Until(start.Add(e.cfg.duration * time.Duration(q) / 4))):
			heaps = append(heaps, fmt.Sprintf("%d/4 %.1f", q, mib(heapInUse())))
		}
	}
	<-runCtx.Done()
	elapsed, worked := time.Since(start), e.done.Load()-done0
	wg.Wait()
	stopProgress()
	select {
	case err := <-errs:
		return err
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	report(out, "work", int(worked), elapsed)
	report(out, "insert", int(e.inserted.Load()), elapsed)
	cpu.report(ctx, out, int(worked))
	fmt.Fprintf(out, "heap in use (MiB): %s, end %.1f\n", strings.Join(heaps, ", "), mib(heapInUse()))
	return nil
}

func (e *benchEnv) latencyRun(ctx context.Context, out io.Writer) error {
	stop, err := e.startWorker(taskflow.WorkerOptions{})
	if err != nil {
		return err
	}
	defer stop()
	time.Sleep(200 * time.Millisecond) // let the worker subscribe and go idle
	stopProfile, err := e.profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	e.latency = make([]time.Duration, 0, int(e.cfg.rate*e.cfg.duration.Seconds())+1)
	var calls []time.Duration
	stopProgress := e.progress("latency")
	tick := time.NewTicker(time.Duration(float64(time.Second) / e.cfg.rate))
	defer tick.Stop()
	end := time.After(e.cfg.duration)
	start := time.Now()
loop:
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			stopProgress()
			return ctx.Err()
		case <-end:
			break loop
		case <-tick.C:
		}
		at := time.Now()
		if _, err := e.task.Enqueue(ctx, jobArgs{N: i, At: at}); err != nil {
			stopProgress()
			return err
		}
		calls = append(calls, time.Since(at))
		e.inserted.Add(1)
	}
	elapsed := time.Since(start)
	// Wait, boundedly, for the last jobs to run.
	for deadline := time.Now().Add(10 * time.Second); e.done.Load() < e.inserted.Load() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	stopProgress()
	e.mu.Lock()
	lat := slices.Clone(e.latency)
	e.mu.Unlock()
	if len(lat) < len(calls) {
		return fmt.Errorf("latency: only %d of %d jobs started within 10s after the run", len(lat), len(calls))
	}
	report(out, "enqueue", len(calls), elapsed)
	fmt.Fprintf(out, "enqueue→start: %s\n", percentiles(lat))
	fmt.Fprintf(out, "enqueue call:  %s\n", percentiles(calls))
	return nil
}

// urgentJobs is how many high priority jobs priority mode enqueues behind
// the backlog, one every urgentGap.
const (
	urgentJobs = 100
	urgentGap  = 5 * time.Millisecond
)

// priorityRun works a backlog of -n no-op jobs at priority 0 and, once the
// worker runs at full speed (a tenth of the backlog done), enqueues
// urgentJobs at priority 10, one at a time; it reports how long each waited
// to start, and the burn-down rate of the whole backlog.
func (e *benchEnv) priorityRun(ctx context.Context, out io.Writer) error {
	n := e.cfg.n
	args := make([]jobArgs, min(e.cfg.batch, n))
	for i := 0; i < n; i += len(args) {
		if _, err := e.task.EnqueueMany(ctx, args[:min(len(args), n-i)]); err != nil {
			return err
		}
		e.inserted.Add(int64(min(len(args), n-i)))
	}
	e.target.Store(int64(n + urgentJobs))
	stopProfile, err := e.profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	stopProgress := e.progress("work")
	defer stopProgress()
	start := time.Now()
	stop, err := e.startWorker(taskflow.WorkerOptions{})
	if err != nil {
		return err
	}
	defer stop()
	for e.done.Load() < int64(n/10) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(time.Millisecond)
	}
	for i := range urgentJobs {
		if _, err := e.task.Enqueue(ctx, jobArgs{N: i, At: time.Now()}, taskflow.Priority(10)); err != nil {
			return err
		}
		time.Sleep(urgentGap)
	}
	if left := int64(n) - e.done.Load(); left < int64(n/10) {
		fmt.Fprintf(out, "warning: only %d low priority jobs were left when the last urgent job was enqueued; raise -n\n", left)
	}
	select {
	case <-e.reached:
	case <-ctx.Done():
		return ctx.Err()
	}
	report(out, "work", n+urgentJobs, time.Since(start))
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(out, "urgent enqueue→start: %s\n", percentiles(e.latency))
	return nil
}

func (e *benchEnv) single(ctx context.Context, out io.Writer) error {
	stopProfile, err := e.profile()
	if err != nil {
		return err
	}
	defer stopProfile()
	runCtx, cancel := context.WithTimeout(ctx, e.cfg.duration)
	defer cancel()
	stopProgress := e.progress("single")
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for g := range max(1, e.cfg.concurrency) {
		wg.Go(func() {
			for i := 0; runCtx.Err() == nil; i++ {
				if _, err := e.task.Enqueue(runCtx, jobArgs{N: g<<32 | i}); err != nil {
					if runCtx.Err() == nil {
						firstErr.CompareAndSwap(nil, &err)
						cancel()
					}
					return
				}
				e.inserted.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	if err := firstErr.Load(); err != nil {
		return *err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	report(out, "single insert", int(e.inserted.Load()), elapsed)
	return nil
}

// profile starts the CPU profile and the allocation profile that
// -cpuprofile and -memprofile ask for and returns what stops them.
func (e *benchEnv) profile() (stop func(), err error) {
	stopCPU, err := e.cpuProfile()
	if err != nil || e.cfg.memProfile == "" {
		return stopCPU, err
	}
	runtime.MemProfileRate = 4096
	runtime.GC() // the profile counts from the last collection: start it here
	return func() {
		stopCPU()
		runtime.GC()
		if err := writeHeapProfile(e.cfg.memProfile); err != nil {
			fmt.Fprintf(e.stderr, "memory profile: %v\n", err)
		}
	}, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (e *benchEnv) cpuProfile() (stop func(), err error) {
	if e.cfg.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(e.cfg.cpuProfile)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(e.stderr, "cpu profile: %v\n", err)
		}
	}, nil
}

func report(out io.Writer, what string, n int, d time.Duration) {
	fmt.Fprintf(out, "%s: %d jobs in %.2fs: %.0f jobs/s\n", what, n, d.Seconds(), float64(n)/d.Seconds())
}

// percentiles formats p50, p90, p99 and max of ds in milliseconds.
func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	slices.Sort(ds)
	p := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(time.Millisecond)
	}
	return fmt.Sprintf("p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  (%d samples)", p(0.50), p(0.90), p(0.99), p(1), len(ds))
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
