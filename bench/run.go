package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metric is one figure a measurement gives.
type metric int

const (
	bulkInsert metric = iota
	burnDown
	continuousRate
	pickupP50
	pickupP95
	numMetrics
)

var metricNames = [numMetrics]string{
	bulkInsert: "bulk insert (jobs/s)", burnDown: "burn-down (jobs/s)", continuousRate: "continuous (jobs/s)",
	pickupP50: "pickup p50 (ms)", pickupP95: "pickup p95 (ms)",
}

// columns is the order of the tables' columns.
var columns = []metric{burnDown, continuousRate, bulkInsert, pickupP50, pickupP95}

func (m metric) String() string { return metricNames[m] }

// higherIsBetter tells whether a larger figure of m is better.
func (m metric) higherIsBetter() bool { return m == bulkInsert || m == burnDown || m == continuousRate }

// results are the figures of one sitting.
type results struct {
	start, end time.Time
	systems    []string                         // in the order given
	runs       map[string][numMetrics][]float64 // system → metric → one figure per run
	notes      []string                         // runs stopped by the time limit, systems left out
}

func (r *results) add(system string, figs map[metric]float64) {
	v := r.runs[system]
	for m, f := range figs {
		v[m] = append(v[m], f)
	}
	r.runs[system] = v
}

// run carries out a sitting and prints its tables to out, progress to
// errOut.
func run(ctx context.Context, cfg *config, out, errOut io.Writer) error {
	res, err := sitting(ctx, cfg, errOut)
	if err != nil {
		return err
	}
	printTables(out, cfg, res)
	return nil
}

// sitting runs every mode of every system, -rounds times, and returns the
// figures.
func sitting(ctx context.Context, cfg *config, errOut io.Writer) (*results, error) {
	e := &env{cfg: cfg, progress: errOut}
	res := &results{runs: map[string][numMetrics][]float64{}, start: time.Now()}
	leaveOut := func(name, why string) error {
		if cfg.requireAllSystems {
			return fmt.Errorf("%s: %s", name, why)
		}
		res.notes = append(res.notes, fmt.Sprintf("%s left out: %s", name, why))
		fmt.Fprintf(errOut, "%s left out: %s\n", name, why)
		return nil
	}
	var redisErr error
	if slices.ContainsFunc(cfg.systems, func(s string) bool { return needs(s) == "redis" }) {
		if cfg.redis != "" {
			e.redisAddr = cfg.redis
		} else {
			addr, stop, err := startRedis(ctx)
			if err != nil {
				redisErr = fmt.Errorf("no -redis, and starting a redis-server failed: %w", err)
			} else {
				defer func() {
					if err := stop(); err != nil {
						fmt.Fprintf(errOut, "stop redis-server: %v\n", err)
					}
				}()
				e.redisAddr = addr
			}
		}
	}
	for _, s := range cfg.systems {
		var err error
		switch {
		case needs(s) == "postgres" && cfg.database == "":
			err = leaveOut(s, "no PostgreSQL URL (-database or $TASKFLOW_DATABASE_URL)")
		case needs(s) == "redis" && e.redisAddr == "":
			err = leaveOut(s, redisErr.Error())
		default:
			res.systems = append(res.systems, s)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(res.systems) == 0 {
		return nil, errors.New("no system can run")
	}
	for r := range cfg.rounds {
		for _, mode := range cfg.modes {
			for i := range res.systems {
				name := res.systems[(i+r)%len(res.systems)] // each round starts with the next system
				figs, note, err := e.measure(ctx, mode, name)
				if err != nil {
					return nil, fmt.Errorf("round %d, %s, %s: %w", r+1, mode, name, err)
				}
				if note != "" {
					res.notes = append(res.notes, fmt.Sprintf("round %d, %s, %s: %s", r+1, mode, name, note))
				}
				res.add(name, figs)
				fmt.Fprintf(errOut, "round %d/%d %-10s %-17s %s\n", r+1, cfg.rounds, mode, name, formatFigures(figs))
			}
		}
	}
	res.end = time.Now()
	return res, nil
}

func formatFigures(figs map[metric]float64) string {
	var parts []string
	for _, m := range columns {
		if f, ok := figs[m]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", m, format(m, f)))
		}
	}
	return strings.Join(parts, ", ")
}

// measure runs one mode of one system on a fresh instance of it. A note
// says what limited the run, if anything did.
func (e *env) measure(ctx context.Context, mode, name string) (figs map[metric]float64, note string, err error) {
	h := newHooks()
	s, err := e.open(ctx, name, h)
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if cerr := s.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close: %w", cerr))
		}
	}()
	mctx, cancel := context.WithTimeout(ctx, e.cfg.limit)
	defer cancel()
	switch mode {
	case "burndown":
		return e.burndown(mctx, ctx, s, h)
	case "continuous":
		return e.continuous(mctx, s, h)
	default:
		return e.latency(mctx, s, h)
	}
}

// burndown inserts -n jobs, then times the workers until all are done or
// mctx, the measurement's time limit, ends.
func (e *env) burndown(mctx, ctx context.Context, s system, h *hooks) (map[metric]float64, string, error) {
	n := e.cfg.n
	start := time.Now()
	if err := s.insert(mctx, n, e.cfg.batch); err != nil {
		return nil, "", fmt.Errorf("insert: %w", limitErr(ctx, err))
	}
	figs := map[metric]float64{bulkInsert: rate(n, time.Since(start))}
	start = time.Now()
	if err := s.start(mctx); err != nil {
		return nil, "", err
	}
	note := ""
	if err := waitFor(mctx, func() bool { return h.done.Load() >= int64(n) }); err != nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		note = fmt.Sprintf("stopped by -limit %s with %d of %d jobs done", e.cfg.limit, h.done.Load(), n)
	} else if st, ok := s.(interface{ settle(context.Context) error }); ok {
		if err := st.settle(mctx); err != nil {
			return nil, "", fmt.Errorf("settle: %w", limitErr(ctx, err))
		}
	}
	figs[burnDown] = rate(int(min(h.done.Load(), int64(n))), time.Since(start))
	return figs, note, nil
}

// continuous runs two producers, which keep the backlog bounded, alongside
// the workers for -duration and reports the jobs completed per second
// after a warm-up.
func (e *env) continuous(mctx context.Context, s system, h *hooks) (map[metric]float64, string, error) {
	if err := s.start(mctx); err != nil {
		return nil, "", err
	}
	const producers = 2
	maxBacklog := int64(max(20_000, 4*e.cfg.batch))
	runCtx, cancel := context.WithTimeout(mctx, e.cfg.duration)
	defer cancel()
	var inserted atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start, done0 := time.Now(), h.done.Load()
	for range producers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				if inserted.Load()-h.done.Load() > maxBacklog {
					time.Sleep(time.Millisecond)
					continue
				}
				if err := s.insert(runCtx, e.cfg.batch, e.cfg.batch); err != nil {
					if runCtx.Err() == nil {
						firstErr.CompareAndSwap(nil, &err)
						cancel()
					}
					return
				}
				inserted.Add(int64(e.cfg.batch))
			}
		})
	}
	// The figure counts from the end of a warm-up (a fifth of the run, at
	// most a second): connections made, workers at full speed.
	if sleep(runCtx, min(time.Second, e.cfg.duration/5)) == nil {
		start, done0 = time.Now(), h.done.Load()
	}
	<-runCtx.Done()
	elapsed, worked := time.Since(start), h.done.Load()-done0
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		return nil, "", *err
	}
	note := ""
	if mctx.Err() != nil {
		note = fmt.Sprintf("stopped by -limit %s after %s", e.cfg.limit, elapsed.Round(time.Millisecond))
	}
	return map[metric]float64{continuousRate: rate(int(worked), elapsed)}, note, nil
}

// latency enqueues one job at a time to idle workers, -samples of them or
// as many as -duration allows, and reports the time from just before each
// enqueue call to the start of the job.
func (e *env) latency(mctx context.Context, s system, h *hooks) (map[metric]float64, string, error) {
	if err := s.start(mctx); err != nil {
		return nil, "", err
	}
	if err := sleep(mctx, 200*time.Millisecond); err != nil { // let the workers go idle
		return nil, "", err
	}
	var samples []time.Duration
	end := time.Now().Add(e.cfg.duration)
	for len(samples) < e.cfg.samples && time.Now().Before(end) {
		if err := s.enqueue(mctx, time.Now()); err != nil {
			return nil, "", err
		}
		select {
		case d := <-h.pickup:
			samples = append(samples, d)
		case <-time.After(5 * time.Second):
			return nil, "", fmt.Errorf("a job did not start within 5s of its enqueue (%d started)", len(samples))
		case <-mctx.Done():
			return nil, "", mctx.Err()
		}
		if err := sleep(mctx, 5*time.Millisecond); err != nil { // idle again between jobs
			return nil, "", err
		}
	}
	if len(samples) < e.cfg.samples {
		fmt.Fprintf(e.progress, "%d of %d pickups timed within -duration %s\n", len(samples), e.cfg.samples, e.cfg.duration)
	}
	slices.Sort(samples)
	ms := func(q float64) float64 {
		return float64(samples[min(len(samples)-1, int(q*float64(len(samples))))]) / float64(time.Millisecond)
	}
	return map[metric]float64{pickupP50: ms(0.50), pickupP95: ms(0.95)}, "", nil
}

// limitErr says when err is the measurement's time limit rather than the
// sitting's end.
func limitErr(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("did not finish within -limit: %w", err)
	}
	return err
}

// waitFor polls cond every millisecond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		if err := sleep(ctx, time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// machine describes where the sitting runs.
func machine() string {
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = " (" + strings.TrimSpace(v) + ")"
				break
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d CPUs%s, GOMAXPROCS %d, %s%s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, runtime.GOMAXPROCS(0), runtime.Version(), load)
}
