package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCommandLineErrors(t *testing.T) {
	t.Setenv("TASKFLOW_DATABASE_URL", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"bench", "-mode", "sprint"}, `-mode "sprint": want one of`},
		{[]string{"bench", "-store", "mysql"}, `-store "mysql": want memory, postgres or redis`},
		{[]string{"bench", "-n", "0"}, "-n must be positive"},
		{[]string{"bench", "-batch", "-1"}, "-batch must be positive"},
		{[]string{"bench", "-duration", "0s"}, "-duration must be positive"},
		{[]string{"bench", "-rate", "0"}, "-rate must be positive"},
		{[]string{"bench", "-concurrency", "-2"}, "-concurrency must not be negative"},
		{[]string{"bench", "-retention", "-1s"}, "-retention must not be negative"},
		{[]string{"bench", "-nope"}, "flag provided but not defined: -nope"},
		{[]string{"bench", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "-store", "postgres"}, "no database: pass -database URL or set TASKFLOW_DATABASE_URL"},
		{[]string{"migrate"}, "no database"},
		{[]string{"migrate", "-database", "postgres://127.0.0.1/x", "-schema", ""}, "-schema must not be empty"},
		{[]string{"migrate", "-database", "::not a url"}, "bad database URL"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v; want a usage error containing %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestParseBenchDefaults(t *testing.T) {
	c, err := parseBench([]string{"-mode", "latency", "-rate", "50", "-duration", "2s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.store != "memory" || c.mode != "latency" || c.rate != 50 || c.duration != 2*time.Second || c.batch != 1000 {
		t.Fatalf("parseBench = %+v", c)
	}
}

func TestBenchBurndownMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"bench", "-store", "memory", "-mode", "burndown", "-n", "2000", "-batch", "300"}, &out, &errOut); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, errOut.String())
	}
	for _, want := range []string{"bulk insert: 2000 jobs", "work: 2000 jobs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchShortModesMemory(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want []string
	}{
		{"continuous", []string{"work: ", "insert: ", "heap in use (MiB): start"}},
		{"latency", []string{"enqueue→start: p50", "enqueue call:  p50"}},
		{"single", []string{"single insert: "}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), []string{"bench", "-mode", tc.mode, "-duration", "500ms", "-rate", "200"}, &out, &errOut); err != nil {
				t.Fatalf("bench: %v\nstderr:\n%s", err, errOut.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestHelpFlagPrintsUsage(t *testing.T) {
	for _, cmd := range []string{"bench", "migrate"} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{cmd, "-h"}, &out, &errOut); err != nil {
			t.Fatalf("%s -h: %v", cmd, err)
		}
		if !strings.Contains(errOut.String(), "-database") {
			t.Errorf("%s -h printed no flags:\n%s", cmd, errOut.String())
		}
	}
}

// TestBenchRedis runs every bench mode on the Redis store at
// TASKFLOW_TEST_REDIS_ADDR; without it the test is skipped, or fails when
// CI=true.
func TestBenchRedis(t *testing.T) {
	addr := os.Getenv("TASKFLOW_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TASKFLOW_TEST_REDIS_ADDR is not set; CI must provide Redis, e.g. 127.0.0.1:6379")
		}
		t.Skip("Redis bench skipped: set TASKFLOW_TEST_REDIS_ADDR=127.0.0.1:6379 to run it")
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-mode", "burndown", "-n", "2000", "-batch", "300"}, []string{"bulk insert: 2000 jobs", "work: 2000 jobs", "redis memory per job: "}},
		{[]string{"-mode", "continuous"}, []string{"work: ", "insert: "}},
		{[]string{"-mode", "latency"}, []string{"enqueue→start: p50"}},
		{[]string{"-mode", "single"}, []string{"single insert: "}},
		{[]string{"-mode", "priority", "-n", "2000"}, []string{"work: 2100 jobs"}},
	} {
		t.Run(tc.args[1], func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"bench", "-store", "redis", "-redis", addr, "-duration", "500ms", "-rate", "200"}, tc.args...)
			if err := run(context.Background(), args, &out, &errOut); err != nil {
				t.Fatalf("bench: %v\nstderr:\n%s", err, errOut.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			if strings.Contains(errOut.String(), "kept Redis store") {
				t.Errorf("the bench store was kept:\n%s", errOut.String())
			}
		})
	}
}
