// Command taskflow manages taskflow's PostgreSQL schema and measures how fast
// taskflow inserts and works jobs, in memory, on PostgreSQL or on Redis.
//
// Usage:
//
//	taskflow migrate [-database URL] [-schema NAME]
//	taskflow bench [-store memory|postgres|redis] [-database URL] [-redis ADDR] [-schema NAME] [-keep]
//	               [-mode burndown|continuous|latency|single]
//	               [-n N] [-duration D] [-rate R] [-concurrency C] [-batch B]
//	               [-cpuprofile FILE]
//
// -database defaults to the environment variable TASKFLOW_DATABASE_URL, for
// example postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
//
// migrate creates the tables in the schema (default "taskflow") or brings
// them up to date; it is idempotent.
//
// bench runs no-op jobs through a store and a worker, using only the public
// API. Progress goes to stderr every second, the summary to stdout. Modes:
//
//   - burndown: insert -n jobs in batches of -batch (EnqueueMany), report
//     inserts/s, then start a worker and report how fast it works them all.
//   - continuous: producers insert in batches while a worker works, for
//     -duration; report worked and inserted jobs/s and the heap in use at
//     start and end (finished jobs expire after a few seconds, so the heap
//     should stay flat).
//   - latency: enqueue one job at a time at -rate jobs/s for -duration and
//     report percentiles of the time from just before Enqueue to the start
//     of the task.
//   - single: for -duration, insert one job per Enqueue call (one
//     transaction each) from -concurrency goroutines (default 1); report
//     jobs/s.
//
// On PostgreSQL, bench migrates a fresh schema bench_<random> and drops it at
// the end unless -keep is given; with -schema NAME it uses that schema and
// never drops it. On Redis (-redis defaults to $TASKFLOW_REDIS_ADDR, else
// 127.0.0.1:6379; several comma-separated addresses mean a Redis Cluster)
// -schema names the store instead, whose keys are deleted at the end in the
// same way; burndown mode also reports Redis' memory per pending and per
// finished job, from INFO memory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow-go/taskflow/storage/pgstore"
)

const usage = `usage:
  taskflow migrate [-database URL] [-schema NAME]
  taskflow bench [-store memory|postgres|redis] [-database URL] [-redis ADDR] [-schema NAME] [-keep]
                 [-mode burndown|continuous|latency|single]
                 [-n N] [-duration D] [-rate R] [-concurrency C] [-batch B]
                 [-cpuprofile FILE]
Run "taskflow <command> -h" for the flags of a command.
-database defaults to $TASKFLOW_DATABASE_URL, -redis to $TASKFLOW_REDIS_ADDR.`

// errUsage marks errors in the command line; main exits with status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "taskflow:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "taskflow:", err)
		os.Exit(1)
	}
}

// run executes the command line args (without the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command\n%s", errUsage, usage)
	}
	switch args[0] {
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr)
	case "bench":
		cfg, err := parseBench(args[1:], stderr)
		if err != nil || cfg == nil { // nil, nil: -h printed the flags
			return err
		}
		return bench(ctx, cfg, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q\n%s", errUsage, args[0], usage)
}

// parseFlags parses args into fs, turning its errors into usage errors. It
// reports false after -h, which is not an error.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (bool, error) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, nil
		}
		return false, fmt.Errorf("%w: %s: %w", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("%w: %s: unexpected argument %q", errUsage, fs.Name(), fs.Arg(0))
	}
	return true, nil
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	url := fs.String("database", os.Getenv("TASKFLOW_DATABASE_URL"), "PostgreSQL URL (default $TASKFLOW_DATABASE_URL)")
	schema := fs.String("schema", pgstore.DefaultSchema, "schema that holds the tables")
	if ok, err := parseFlags(fs, args, stderr); !ok {
		return err
	}
	if *schema == "" {
		return fmt.Errorf("%w: migrate: -schema must not be empty", errUsage)
	}
	pool, err := connect(ctx, *url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pgstore.Migrate(ctx, pool, pgstore.Schema(*schema)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema %q is up to date\n", *schema)
	return nil
}

// connect opens a pool on url and checks that the database answers.
func connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, fmt.Errorf("%w: no database: pass -database URL or set TASKFLOW_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", errUsage)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: bad database URL: %w", errUsage, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}
