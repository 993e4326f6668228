package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// serverEnv returns the value of the environment variable that names a
// test server. Without it the test is skipped, or fails when CI=true.
func serverEnv(t *testing.T, name, example string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must provide it, e.g. %s", name, example)
		}
		t.Skipf("skipped: set %s=%s to run it", name, example)
	}
	return v
}

// TestEverySystemOnce runs every mode of each system once with a few jobs:
// every figure comes out, no run hits the time limit, and the run leaves no
// file, schema or Redis key behind.
func TestEverySystemOnce(t *testing.T) {
	for _, system := range allSystems {
		t.Run(system, func(t *testing.T) {
			cfg := &config{
				systems: []string{system}, modes: allModes,
				n: 300, batch: 10, workers: 10, rounds: 1, samples: 5,
				duration: time.Second, limit: 20 * time.Second,
				asynqDB: 14, requireAllSystems: true,
			}
			var checkClean func(t *testing.T)
			switch needs(system) {
			case "postgres":
				cfg.database = serverEnv(t, "TASKFLOW_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
				checkClean = schemasLeft(t, cfg.database)
			case "redis":
				cfg.redis = serverEnv(t, "TASKFLOW_TEST_REDIS_ADDR", "127.0.0.1:6379")
				checkClean = keysLeft(t, cfg.redis, cfg.asynqDB)
			}
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // where the SQLite files go
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			var progress bytes.Buffer
			res, err := sitting(ctx, cfg, &progress)
			if err != nil {
				t.Fatalf("sitting: %v\n%s", err, progress.String())
			}
			if len(res.notes) > 0 {
				t.Errorf("notes: %q", res.notes)
			}
			for _, m := range columns {
				// A slow system may complete nothing in the short
				// continuous run (River on SQLite under -race); the
				// burn-down and the pickups show that its workers work.
				runs := res.runs[system][m]
				if len(runs) != 1 || runs[0] < 0 || (runs[0] == 0 && m != continuousRate) {
					t.Errorf("%s: runs %v, want one positive figure", m, runs)
				}
			}
			var table bytes.Buffer
			printTables(&table, cfg, res)
			if !strings.Contains(table.String(), "| "+system+" | ") {
				t.Errorf("table has no row for %s:\n%s", system, table.String())
			}
			if entries, err := os.ReadDir(tmp); err != nil || len(entries) > 0 {
				t.Errorf("temporary directory holds %v (%v), want nothing", entries, err)
			}
			if checkClean != nil {
				checkClean(t)
			}
		})
	}
}

// schemasLeft counts the program's schemas now and returns a check that
// there are no more of them later.
func schemasLeft(t *testing.T, url string) func(*testing.T) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	count := func(t *testing.T) int {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tf\_bench\_%' OR nspname LIKE 'river\_bench\_%'`).Scan(&n)
		if err != nil {
			t.Fatalf("count schemas: %v", err)
		}
		return n
	}
	before := count(t)
	return func(t *testing.T) {
		if after := count(t); after != before {
			t.Errorf("%d bench schemas after the run, %d before", after, before)
		}
	}
}

// keysLeft counts the program's taskflow store keys now and returns a
// check that there are no more of them later, and that Asynq's database is
// empty.
func keysLeft(t *testing.T, addr string, asynqDB int) func(*testing.T) {
	t.Helper()
	if host, _, err := net.SplitHostPort(addr); err != nil || (host != "localhost" && !net.ParseIP(host).IsLoopback()) {
		t.Fatalf("TASKFLOW_TEST_REDIS_ADDR %q is not a loopback address", addr)
	}
	ctx := context.Background()
	asynqDBClient := redis.NewClient(&redis.Options{Addr: addr, DB: asynqDB})
	tfClient := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = asynqDBClient.Close(); _ = tfClient.Close() })
	count := func(t *testing.T) int {
		keys, err := tfClient.Keys(ctx, "{peerbench_*").Result()
		if err != nil {
			t.Fatalf("keys: %v", err)
		}
		return len(keys)
	}
	before := count(t)
	return func(t *testing.T) {
		if n, err := asynqDBClient.DBSize(ctx).Result(); err != nil || n != 0 {
			t.Errorf("Asynq's database %d holds %d keys (%v), want 0", asynqDB, n, err)
		}
		if after := count(t); after != before {
			t.Errorf("%d taskflow bench store keys after the run, %d before", after, before)
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(*config) bool
	}{
		{args: nil, check: func(c *config) bool {
			return len(c.systems) == len(allSystems) && c.workers == 100 && c.rounds == 3
		}},
		{args: []string{"-systems", "asynq, taskflow-sqlite,asynq", "-modes", "latency"}, check: func(c *config) bool {
			return strings.Join(c.systems, ",") == "asynq,taskflow-sqlite" && strings.Join(c.modes, ",") == "latency"
		}},
		{args: []string{"-systems", "sidekiq"}, wantErr: `unknown "sidekiq"`},
		{args: []string{"-modes", ""}, wantErr: "none given"},
		{args: []string{"-workers", "0"}, wantErr: "must be positive"},
		{args: []string{"-limit", "-1s"}, wantErr: "must be positive"},
		{args: []string{"extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c, err := parseFlags(tt.args, &bytes.Buffer{})
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			case !tt.check(c):
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		m    metric
		f    float64
		want string
	}{
		{burnDown, 0, "0"},
		{burnDown, 999.6, "1,000"},
		{bulkInsert, 1234567, "1,234,567"},
		{pickupP50, 1.234, "1.23"},
	}
	for _, tt := range tests {
		if got := format(tt.m, tt.f); got != tt.want {
			t.Errorf("format(%s, %v) = %q, want %q", tt.m, tt.f, got, tt.want)
		}
	}
	if got := ratio(pickupP50, []float64{2}, []float64{5}); got != "2.50×" {
		t.Errorf("ratio of pickups = %q, want 2.50×", got)
	}
	if got := ratio(burnDown, []float64{30, 10, 20}, []float64{10}); got != "2.00×" {
		t.Errorf("ratio of burn-downs = %q, want 2.00× (median 20)", got)
	}
}
