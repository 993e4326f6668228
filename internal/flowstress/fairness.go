package flowstress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// FairnessConfig sizes a fairness run. Zero fields take the defaults shown.
type FairnessConfig struct {
	// BigJobs the big tenant enqueues first. TASKFLOW_FAIRNESS_BIG_JOBS
	// overrides it. Default: 100,000, or 10,000 under the race detector.
	BigJobs int
	// Tenants that enqueue after it. Default: 20.
	Tenants int
	// SmallJobs each of them enqueues. Default: 50.
	SmallJobs int
	// Workers serving the store, each at the default WorkerOptions.
	// Default: 2.
	Workers int
	// Timeout bounds the run. Default: 3 minutes.
	Timeout time.Duration
	// Backlogged, when set, is called once the big tenant's jobs are
	// stored, before any worker starts.
	Backlogged func(ctx context.Context)
}

// FairnessLimit is the partition limit every tenant runs under: below the
// slots of one worker at its default concurrency, so that the partitions,
// not the order of enqueueing, decide who runs.
var FairnessLimit = taskflow.Limits{Concurrency: 2}

// FairnessResult is what a fairness run measured.
type FairnessResult struct {
	// LastSmallStart is the time from the small tenants' enqueue to the
	// start of the last of their jobs.
	LastSmallStart time.Duration
	// Jain is Jain's fairness index over the completions counted (see
	// Fairness).
	Jain float64
	// Counted is how many completions Jain is over.
	Counted int
	// BigStarts is how many of the big tenant's jobs started between the
	// small tenants' enqueue and the start of their last job; Bound is the
	// most the test allows.
	BigStarts, Bound int
}

// Fairness runs the fairness test of flow control on store, which must
// implement storage.FlowControl: one tenant enqueues cfg.BigJobs jobs (with
// EnqueueMany, 5,000 at a time) and workers start on them; once they run,
// cfg.Tenants tenants enqueue cfg.SmallJobs each, in one EnqueueMany. The
// task is partitioned by tenant (PartitionBy) under FairnessLimit, and the
// store serves partitions round robin.
//
// Asserted, independently of the machine's speed:
//
//   - Ordering: between the small tenants' enqueue and the start of their
//     last job, the big tenant starts at most 3×SmallJobs+Limit jobs. Round
//     robin over 1+Tenants partitions under the same limit gives it about
//     SmallJobs; serving in enqueue order would give it all of its jobs.
//   - Jain's fairness index J = (Σx)² / (n·Σx²), over the completions per
//     tenant x, is at least 0.9. It is taken over the completions made
//     while every tenant still has work waiting: from the small tenants'
//     enqueue until the first tenant's last job starts, at most the first
//     5,000 completions, across all 1+Tenants tenants. (Over raw counts it
//     would be low by construction: the small tenants run out of work after
//     SmallJobs each, while the big tenant goes on.)
//
// The run ends when every small tenant's job has finished; the big tenant's
// remaining jobs are left in the store.
func Fairness(tb testing.TB, store storage.Store, cfg FairnessConfig) FairnessResult {
	tb.Helper()
	if cfg.BigJobs <= 0 {
		cfg.BigJobs = 100_000
		if Race {
			cfg.BigJobs = 10_000
		}
	}
	if v := os.Getenv("TASKFLOW_FAIRNESS_BIG_JOBS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			tb.Fatalf("TASKFLOW_FAIRNESS_BIG_JOBS=%q: %v", v, err)
		}
		cfg.BigJobs = n
	}
	if cfg.Tenants <= 0 {
		cfg.Tenants = 20
	}
	if cfg.SmallJobs <= 0 {
		cfg.SmallJobs = 50
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()

	type event struct {
		tenant string
		at     time.Time
	}
	var (
		mu           sync.Mutex
		starts, ends []event
		smallLeft    = cfg.Tenants * cfg.SmallJobs
		smallDone    = make(chan struct{})
		bigRunning   = make(chan struct{})
	)
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "fairness", func(ctx context.Context, tenant string) (int, error) {
		mu.Lock()
		starts = append(starts, event{tenant, time.Now()})
		if len(starts) == min(10, cfg.BigJobs) {
			close(bigRunning)
		}
		mu.Unlock()
		select {
		case <-time.After(2 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		mu.Lock()
		defer mu.Unlock()
		ends = append(ends, event{tenant, time.Now()})
		if tenant != "big" {
			if smallLeft--; smallLeft == 0 {
				close(smallDone)
			}
		}
		return 0, nil
	},
		taskflow.PartitionBy(func(tenant string) string { return tenant }),
		taskflow.PartitionLimit(FairnessLimit),
	)
	if err != nil {
		tb.Fatal(err)
	}
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	big := slices.Repeat([]string{"big"}, cfg.BigJobs)
	for chunk := range slices.Chunk(big, 5000) {
		if _, err := task.On(client).EnqueueMany(ctx, chunk); err != nil {
			tb.Fatal(err)
		}
	}

	if cfg.Backlogged != nil {
		cfg.Backlogged(ctx)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	for i := range cfg.Workers {
		w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Logger: quiet, ID: fmt.Sprint("fairness-", i)})
		if err != nil {
			tb.Fatal(err)
		}
		wg.Go(func() {
			if err := w.Run(wctx); err != nil {
				tb.Errorf("worker %d: %v", i, err)
			}
		})
	}
	select {
	case <-bigRunning:
	case <-ctx.Done():
		tb.Fatalf("the big tenant's jobs did not start within %v", cfg.Timeout)
	}

	var small []string
	for i := range cfg.Tenants {
		small = append(small, slices.Repeat([]string{"t" + strconv.Itoa(i)}, cfg.SmallJobs)...)
	}
	enqueued := time.Now()
	if _, err := task.On(client).EnqueueMany(ctx, small); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-smallDone:
	case <-ctx.Done():
		mu.Lock()
		left := smallLeft
		mu.Unlock()
		tb.Fatalf("%d of the small tenants' jobs did not finish within %v", left, cfg.Timeout)
	}
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()

	// Starts: the last small job's, each small tenant's last (when it has
	// no more work waiting), and the big tenant's in between.
	var r FairnessResult
	var lastSmall time.Time
	tenantLast := map[string]time.Time{}
	for _, s := range starts {
		if s.tenant != "big" {
			tenantLast[s.tenant] = s.at
			if s.at.After(lastSmall) {
				lastSmall = s.at
			}
		}
	}
	r.LastSmallStart = lastSmall.Sub(enqueued)
	for _, s := range starts {
		if s.tenant == "big" && !s.at.Before(enqueued) && !s.at.After(lastSmall) {
			r.BigStarts++
		}
	}
	r.Bound = 3*cfg.SmallJobs + FairnessLimit.Concurrency
	if r.BigStarts > r.Bound {
		tb.Errorf("the big tenant started %d jobs before the small tenants' last started; round robin allows %d", r.BigStarts, r.Bound)
	}

	// Jain's index over the completions while every tenant had work
	// waiting: until the first small tenant's last job started.
	cutoff := lastSmall
	for _, at := range tenantLast {
		if at.Before(cutoff) {
			cutoff = at
		}
	}
	counts := map[string]int{"big": 0}
	for t := range tenantLast {
		counts[t] = 0
	}
	slices.SortFunc(ends, func(a, b event) int { return a.at.Compare(b.at) })
	for _, e := range ends {
		if e.at.Before(enqueued) {
			continue
		}
		if e.at.After(cutoff) || r.Counted == 5000 {
			break
		}
		counts[e.tenant]++
		r.Counted++
	}
	r.Jain = jain(counts)
	if len(counts) != 1+cfg.Tenants || r.Jain < 0.9 {
		tb.Errorf("Jain's index %.3f over %d completions of %d tenants, want at least 0.9 over %d; per tenant: %v",
			r.Jain, r.Counted, len(counts), 1+cfg.Tenants, counts)
	}
	tb.Logf("big tenant %d jobs, %d tenants of %d: last small job started %v after their enqueue; big tenant started %d meanwhile (bound %d); Jain %.3f over %d completions",
		cfg.BigJobs, cfg.Tenants, cfg.SmallJobs, r.LastSmallStart, r.BigStarts, r.Bound, r.Jain, r.Counted)
	return r
}

// jain returns Jain's fairness index of the counts: 1 when all are equal,
// 1/n when one has everything.
func jain(counts map[string]int) float64 {
	var sum, squares float64
	for _, c := range counts {
		sum += float64(c)
		squares += float64(c) * float64(c)
	}
	if squares == 0 {
		return 0
	}
	return sum * sum / (float64(len(counts)) * squares)
}

// BenchFairness runs Fairness once per op on the store and config that
// setup returns, and reports the time from the small tenants' enqueue to
// the start of their last job ("last-small-start-s", the target:
// under 2 s on PostgreSQL) and Jain's index ("jain"), averaged over the
// ops. Run it with -benchtime 1x: each op is a whole run, setup included.
func BenchFairness(b *testing.B, setup func(testing.TB) (storage.Store, FairnessConfig)) {
	b.Helper()
	var last, jain float64
	for range b.N {
		store, cfg := setup(b)
		r := Fairness(b, store, cfg)
		last += r.LastSmallStart.Seconds()
		jain += r.Jain
	}
	b.ReportMetric(last/float64(b.N), "last-small-start-s")
	b.ReportMetric(jain/float64(b.N), "jain")
}
