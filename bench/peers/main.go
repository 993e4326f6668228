// Command peers runs the same no-op workload through taskflow (memory,
// SQLite, PostgreSQL, Redis), River (its pgx and SQLite drivers) and Asynq,
// alternating the systems in one sitting, and prints one table of medians.
//
// It lives in a module of its own, so that River and Asynq never enter
// taskflow's go.mod. Each run of a system starts from an empty store: a
// fresh PostgreSQL schema, a fresh SQLite file, a flushed Redis database.
//
//	cd bench && go run ./peers -rounds 3 -n 20000 \
//	    -postgres postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	    -redis 127.0.0.1:6379
//
// Measurements, per run:
//   - bulk insert: N jobs in batches of 1,000 (Asynq has no batch insert:
//     one Enqueue per job, and River's SQLite driver inserts one row at a
//     time), in jobs/s;
//   - burn-down: the N queued jobs worked by W workers, in jobs/s, until the
//     system reports the last one completed;
//   - pickup: jobs enqueued one at a time, 200 a second for 2 s, each
//     timed from before its enqueue call to the start of its handler; the
//     median, in ms.
//
// Systems without a server to reach (no -postgres, no -redis) are left out.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// system is one queue system under test, set up afresh for each run.
type system struct {
	name string
	// open prepares an empty store and returns a runner on it, and what
	// cleans it up.
	open func(ctx context.Context, c config) (runner, func(), error)
}

// runner drives one system.
type runner interface {
	// insert enqueues n no-op jobs in batches of batch.
	insert(ctx context.Context, n, batch int) error
	// work starts W workers and returns once n jobs have completed.
	work(ctx context.Context, n int) error
	// pickup enqueues one job at a time for d at rate a second while
	// workers run, and returns each job's enqueue-to-start time.
	pickup(ctx context.Context, d time.Duration, rate int) ([]time.Duration, error)
}

type config struct {
	n, workers, batch int
	postgres, redis   string
	dir               string
}

type result struct{ insert, burn, pickup float64 }

func main() {
	var c config
	rounds := flag.Int("rounds", 3, "rounds; each runs every system once, in turn")
	flag.IntVar(&c.n, "n", 20000, "jobs per burn-down")
	flag.IntVar(&c.workers, "workers", 100, "workers (concurrency) of every system")
	flag.IntVar(&c.batch, "batch", 1000, "insert batch size")
	flag.StringVar(&c.postgres, "postgres", os.Getenv("TASKFLOW_TEST_DATABASE_URL"), "PostgreSQL URL (default $TASKFLOW_TEST_DATABASE_URL)")
	flag.StringVar(&c.redis, "redis", os.Getenv("TASKFLOW_TEST_REDIS_ADDR"), "Redis address host:port (default $TASKFLOW_TEST_REDIS_ADDR)")
	only := flag.String("only", "", "comma-separated system names to run (default: all that can)")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "peers-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	c.dir = dir

	var systems []system
	for _, s := range allSystems() {
		needsPG, needsRedis := strings.Contains(s.name, "postgres") || strings.Contains(s.name, "pgx"), strings.Contains(s.name, "redis") || s.name == "asynq"
		if (needsPG && c.postgres == "") || (needsRedis && c.redis == "") {
			continue
		}
		if *only != "" && !slices.Contains(strings.Split(*only, ","), s.name) {
			continue
		}
		systems = append(systems, s)
	}
	results := map[string][]result{}
	for r := range *rounds {
		for _, s := range systems {
			res, err := runOnce(ctx, s, c)
			if err != nil {
				fmt.Fprintf(os.Stderr, "round %d %s: %v\n", r+1, s.name, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "round %d %-18s insert %8.0f/s  burn-down %8.0f/s  pickup p50 %6.2f ms\n", r+1, s.name, res.insert, res.burn, res.pickup)
			results[s.name] = append(results[s.name], res)
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("%s: %d rounds, %d jobs, %d workers, batches of %d, GOMAXPROCS %d, host %s; medians\n",
		time.Now().UTC().Format(time.DateTime), *rounds, c.n, c.workers, c.batch, runtime.GOMAXPROCS(0), host)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tbulk insert (jobs/s)\tburn-down (jobs/s)\tpickup p50 (ms)\t")
	for _, s := range systems {
		rs := results[s.name]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t\n", s.name,
			median(rs, func(r result) float64 { return r.insert }),
			median(rs, func(r result) float64 { return r.burn }),
			median(rs, func(r result) float64 { return r.pickup }))
	}
	tw.Flush()
}

func runOnce(ctx context.Context, s system, c config) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	r, cleanup, err := s.open(ctx, c)
	if err != nil {
		return result{}, err
	}
	defer cleanup()
	var res result
	start := time.Now()
	if err := r.insert(ctx, c.n, c.batch); err != nil {
		return res, fmt.Errorf("insert: %w", err)
	}
	res.insert = float64(c.n) / time.Since(start).Seconds()
	start = time.Now()
	if err := r.work(ctx, c.n); err != nil {
		return res, fmt.Errorf("burn-down: %w", err)
	}
	res.burn = float64(c.n) / time.Since(start).Seconds()
	lat, err := r.pickup(ctx, 2*time.Second, 200)
	if err != nil {
		return res, fmt.Errorf("pickup: %w", err)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.pickup = float64(lat[len(lat)/2].Microseconds()) / 1000
	}
	return res, nil
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "peers:", err)
	os.Exit(1)
}
