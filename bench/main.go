// Command bench compares taskflow with River and Asynq, its two Go peers,
// on the same no-op workload at the same worker count, in one sitting.
//
// It lives in a module of its own so that River and Asynq never enter
// taskflow's go.mod. From this directory:
//
//	go run . -database postgres://localhost/bench -redis 127.0.0.1:6379
//
// Systems (-systems, comma-separated; default all that can run):
//
//	taskflow-memory    taskflow on storage/memstore
//	taskflow-sqlite    taskflow on storage/sqlitestore, a fresh file in a temporary directory
//	taskflow-postgres  taskflow on storage/pgstore, a fresh schema
//	taskflow-redis     taskflow on storage/redisstore, a fresh store name
//	river-postgres     River with riverpgxv5, a fresh schema migrated by rivermigrate
//	river-sqlite       River with riversqlite (modernc.org/sqlite), a fresh file
//	asynq              Asynq, on a Redis database of its own
//
// Modes (-modes; default all):
//
//	burndown    insert -n jobs in batches of -batch (this is also the bulk
//	            insert figure), then start the workers and time them until
//	            all -n are done
//	continuous  two producers insert in batches while the workers work, for
//	            -duration; report jobs completed per second
//	latency     with the workers idle, enqueue one job at a time and time
//	            from just before the enqueue call to the start of the job;
//	            report p50 and p95
//
// Each measurement runs on a fresh store that is removed afterwards, and
// stops at -limit. The systems take turns within each of -rounds rounds (the
// order rotates from one round to the next), and the program prints the
// medians with the range of the runs as a markdown table, then the ratios
// of each taskflow store against each peer.
//
// PostgreSQL (-database, default $TASKFLOW_DATABASE_URL) is needed by the
// postgres systems; they are left out without it. Redis: with -redis
// (default $TASKFLOW_REDIS_ADDR), taskflow-redis uses a fresh store name on
// that server and Asynq uses database -asynq-db, which must be empty, and
// whose asynq:* keys are deleted after each run; without it, the program
// starts a redis-server of its own on a free loopback port (persistence
// off), used by both, and stops it at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err == nil {
		err = run(ctx, cfg, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	systems, modes    []string
	n, batch, workers int
	rounds, samples   int
	duration, limit   time.Duration
	database, redis   string
	asynqDB           int
	requireAllSystems bool // fail instead of leaving out a system that cannot run
	progress          io.Writer
}

var (
	allModes   = []string{"burndown", "continuous", "latency"}
	allSystems = []string{"taskflow-memory", "taskflow-sqlite", "taskflow-postgres", "taskflow-redis", "river-postgres", "river-sqlite", "asynq"}
)

// parseFlags parses args into a config; usage errors are written to errOut.
func parseFlags(args []string, errOut io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	c := &config{}
	systems := fs.String("systems", strings.Join(allSystems, ","), "systems to run, comma-separated")
	modes := fs.String("modes", strings.Join(allModes, ","), "modes to run, comma-separated: burndown, continuous, latency")
	fs.IntVar(&c.n, "n", 50_000, "jobs per burn-down")
	fs.IntVar(&c.batch, "batch", 1000, "jobs per bulk insert call")
	fs.IntVar(&c.workers, "workers", 100, "worker goroutines of every system (taskflow Concurrency, River MaxWorkers, Asynq Concurrency)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; each runs every system once in every mode")
	fs.IntVar(&c.samples, "samples", 100, "jobs timed one at a time in latency mode (fewer if -duration runs out)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long continuous mode runs, and latency mode at most")
	fs.DurationVar(&c.limit, "limit", 30*time.Second, "time limit of each measurement; a burn-down stopped by it reports the rate so far")
	fs.StringVar(&c.database, "database", os.Getenv("TASKFLOW_DATABASE_URL"), "PostgreSQL URL (default $TASKFLOW_DATABASE_URL); without it the postgres systems are left out")
	fs.StringVar(&c.redis, "redis", os.Getenv("TASKFLOW_REDIS_ADDR"), "Redis host:port (default $TASKFLOW_REDIS_ADDR); without it a redis-server of the program's own is started")
	fs.IntVar(&c.asynqDB, "asynq-db", 14, "with -redis, the Redis database Asynq uses; it must be empty")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.systems, err = list("systems", *systems, allSystems); err != nil {
		return nil, err
	}
	if c.modes, err = list("modes", *modes, allModes); err != nil {
		return nil, err
	}
	switch {
	case c.n <= 0, c.batch <= 0, c.workers <= 0, c.rounds <= 0, c.samples <= 0:
		return nil, fmt.Errorf("-n, -batch, -workers, -rounds and -samples must be positive")
	case c.duration <= 0, c.limit <= 0:
		return nil, fmt.Errorf("-duration and -limit must be positive")
	case c.asynqDB < 0:
		return nil, fmt.Errorf("-asynq-db must not be negative")
	}
	return c, nil
}

// list splits a comma-separated flag value and checks each item is known.
func list(flagName, v string, known []string) ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(known, s) {
			return nil, fmt.Errorf("-%s: unknown %q; want some of %s", flagName, s, strings.Join(known, ","))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-%s: none given", flagName)
	}
	return out, nil
}
