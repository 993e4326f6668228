package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/taskflow"
)

// binary is the taskflow command, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "taskflow-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "taskflow")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	code := 1
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the taskflow command:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is how a run of the command ended.
type result struct {
	code           int
	stdout, stderr string
}

// taskflowCmd runs the built command with args, stdin from a pipe (not a
// terminal) and TASKFLOW_DATABASE_URL set to database (unset when empty).
func taskflowCmd(t *testing.T, database string, args ...string) result {
	t.Helper()
	var env []string
	if database != "" {
		env = append(env, "TASKFLOW_DATABASE_URL="+database)
	}
	return taskflowEnv(t, env, args...)
}

// taskflowEnv runs the built command with args, stdin from a pipe, and
// the environment less TASKFLOW_DATABASE_URL and TASKFLOW_STORE, plus env.
func taskflowEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TASKFLOW_DATABASE_URL=") && !strings.HasPrefix(kv, "TASKFLOW_STORE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader("y\n") // a pipe: a selection without --yes is refused, whatever it says
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run taskflow %q: %v", args, err)
	}
	return r
}

// expect checks a result's exit code and that its output holds each of
// the strings.
func (r result) expect(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

// Bad command lines fail with status 2 and say what was wrong before any
// database is reached; help and version need none either.
func TestCommandLineWithoutDatabase(t *testing.T) {
	t.Parallel()
	id := "0190f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr []string
	}{
		{nil, 2, nil, []string{"no command", "Usage:", "taskflow jobs list"}},
		{[]string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`, "Usage:"}},
		{[]string{"--json", "stats"}, 2, nil, []string{`unknown command "--json": the command comes first`}},
		{[]string{"jobs"}, 2, nil, []string{"jobs: missing command: want one of list, show, requeue, delete"}},
		{[]string{"jobs", "frob"}, 2, nil, []string{`jobs: unknown command "frob"`}},
		{[]string{"jobs", "show", "nope"}, 2, nil, []string{`bad job ID "nope"`}},
		{[]string{"jobs", "show"}, 2, nil, []string{"want one job ID, got 0"}},
		{[]string{"jobs", "requeue", id, "12"}, 2, nil, []string{`bad job ID "12"`}},
		{[]string{"batch", "show", "b-1"}, 2, nil, []string{`bad batch ID "b-1"`}},
		{[]string{"jobs", "list", "--nope"}, 2, nil, []string{"flag provided but not defined: -nope", `see "taskflow help jobs list"`}},
		{[]string{"jobs", "list", "--limit", "0"}, 2, nil, []string{"--limit must be positive"}},
		{[]string{"jobs", "list", "--state", "bogus"}, 2, nil, []string{`unknown state "bogus": want one of enqueued,`}},
		{[]string{"jobs", "list", "extra"}, 2, nil, []string{`unexpected argument "extra"`}},
		{[]string{"jobs", "list", "--queue", "Mail!"}, 2, nil, []string{`jobs list: --queue: taskflow: invalid queue name "Mail!"`}},
		{[]string{"jobs", "delete", "--queue", "a b"}, 2, nil, []string{`--queue: taskflow: invalid queue name "a b"`}},
		{[]string{"stats", "--queue", "UPPER"}, 2, nil, []string{`stats: --queue: taskflow: invalid queue name "UPPER"`}},
		{[]string{"jobs", "delete"}, 2, nil, []string{"want job IDs or a selection"}},
		{[]string{"jobs", "requeue", id, "--state", "failed"}, 2, nil, []string{"job IDs or a selection, not both"}},
		{[]string{"queues", "pause"}, 2, nil, []string{"want one queue name, got 0"}},
		{[]string{"recurring", "trigger"}, 2, nil, []string{"want one recurring job ID"}},
		{[]string{"migrate", "up", "--to", "99"}, 2, nil, []string{"--to 99: want a version from 0 to"}},
		{[]string{"migrate", "sql", "--from", "-2"}, 2, nil, []string{"--from -2: want a version from 0 to"}},
		{[]string{"migrate", "status", "--schema", ""}, 2, nil, []string{"--schema must not be empty"}},
		{[]string{"stats"}, 2, nil, []string{"no store: pass --store URL or set TASKFLOW_STORE"}},
		{[]string{"stats", "--database", "::nope"}, 2, nil, []string{"bad database URL"}},
		{[]string{"stats", "--database", "postgres://postgres@127.0.0.1:1/test?sslmode=disable"}, 1, nil,
			[]string{"cannot reach the database at 127.0.0.1:1"}},
		{[]string{"bench", "--mode", "sprint"}, 2, nil, []string{`-mode "sprint": want one of`}},
		{[]string{"bench", "--store", "mysql"}, 2, nil, []string{`-store "mysql": want memory, sqlite, postgres or redis`}},
		{[]string{"bench", "-n", "0"}, 2, nil, []string{"-n must be positive"}},
		{[]string{"bench", "-shards", "0"}, 2, nil, []string{"-shards must be 1 to 256"}},
		{[]string{"bench", "--store", "postgres"}, 2, nil, []string{"no store: pass --store URL"}},
		{[]string{"help", "nope"}, 2, nil, []string{`help: unknown command "nope"`}},
		{[]string{"help"}, 0, []string{"Usage:", "taskflow jobs requeue", "Exit status: 0 ok, 1 failure, 2 usage error"}, nil},
		{[]string{"jobs", "--help"}, 0, []string{"taskflow jobs show ID"}, nil},
		{[]string{"migrate", "sql", "--schema", "app_jobs"}, 0, []string{`CREATE TABLE "app_jobs".jobs (`, "INSERT INTO \"app_jobs\".schema_migrations"}, nil},
		{[]string{"migrate", "sql", "--from", "2", "--to", "0"}, 0, []string{`DROP TABLE "taskflow".servers;`, `DROP TABLE "taskflow".schema_migrations;`}, nil},
		{[]string{"version"}, 0, []string{"taskflow ", "go1."}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			taskflowCmd(t, "", tc.args...).expect(t, tc.code, tc.stdout, tc.stderr)
		})
	}
}

// leaves lists the path of every command that runs something.
func leaves(c *command, path []string) [][]string {
	if len(c.subs) == 0 {
		return [][]string{path}
	}
	var out [][]string
	for _, s := range c.subs {
		out = append(out, leaves(s, append(path[:len(path):len(path)], s.name))...)
	}
	return out
}

// "taskflow help CMD" and "taskflow CMD -h" print the command's usage and
// flags, and succeed.
func TestHelpOfEachCommand(t *testing.T) {
	t.Parallel()
	for _, path := range leaves(commands, nil) {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			t.Parallel()
			want := []string{"Usage: taskflow " + strings.Join(path, " ")}
			fs := flag.NewFlagSet("", flag.ContinueOnError)
			c := commands
			for _, p := range path {
				c = c.sub(p)
			}
			c.define(fs, &env{})
			fs.VisitAll(func(f *flag.Flag) { want = append(want, "-"+f.Name) })
			taskflowCmd(t, "", append([]string{"help"}, path...)...).expect(t, 0, want, nil)
			taskflowCmd(t, "", append(path, "-h")...).expect(t, 0, want, nil)
		})
	}
}

func TestVersionJSON(t *testing.T) {
	t.Parallel()
	r := taskflowCmd(t, "", "version", "--json")
	r.expect(t, 0, nil, nil)
	var v struct{ Version, Go string }
	decode(t, r.stdout, &v)
	if v.Version != taskflow.Version() || !strings.HasPrefix(v.Go, "go1.") {
		t.Fatalf("version --json = %+v", v)
	}
}

func TestAsk(t *testing.T) {
	for _, tc := range []struct {
		answer string
		want   bool
	}{{"y\n", true}, {"YES\n", true}, {" yes ", true}, {"n\n", false}, {"\n", false}, {"", false}, {"maybe\n", false}} {
		var prompt bytes.Buffer
		got, err := ask(strings.NewReader(tc.answer), &prompt, "delete 3 jobs?")
		if err != nil || got != tc.want {
			t.Errorf("ask(%q) = %v, %v; want %v", tc.answer, got, err, tc.want)
		}
		if prompt.String() != "delete 3 jobs? [y/N] " {
			t.Errorf("prompt %q", prompt.String())
		}
	}
}

func TestRound(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{41*time.Millisecond + 300*time.Microsecond, "41ms"},
		{2549 * time.Millisecond, "2.5s"},
		{4*time.Minute + 10*time.Second + 400*time.Millisecond, "4m10s"},
		{4 * time.Minute, "4m"},
		{23*time.Hour + 40*time.Minute + 20*time.Second, "23h40m"},
		{2*time.Hour + 10*time.Second, "2h"},
		{0, "0s"},
	} {
		if got := round(tc.d); got != tc.want {
			t.Errorf("round(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  string
		yes  bool
	}{
		{[]string{"a", "--yes", "b"}, "a b", true},
		{[]string{"--yes", "a"}, "a", true},
		{[]string{"a", "--", "--yes"}, "a --yes", false},
		{nil, "", false},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		yes := fs.Bool("yes", false, "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || strings.Join(pos, " ") != tc.pos || *yes != tc.yes {
			t.Errorf("parseInterspersed(%q) = %q, %v, yes=%v; want %q, yes=%v", tc.args, pos, err, *yes, tc.pos, tc.yes)
		}
	}
}

func TestBenchDefaults(t *testing.T) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	c := benchFlags(fs)
	if err := fs.Parse([]string{"-mode", "latency", "-rate", "50", "-duration", "2s"}); err != nil {
		t.Fatal(err)
	}
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	if c.store != "memory" || c.mode != "latency" || c.rate != 50 || c.duration != 2*time.Second || c.batch != 1000 {
		t.Fatalf("bench flags = %+v", c)
	}
}

func TestBenchMemory(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-mode", "burndown", "-n", "2000", "-batch", "300"}, []string{"bulk insert: 2000 jobs", "work: 2000 jobs"}},
		{[]string{"-mode", "continuous", "-duration", "500ms"}, []string{"work: ", "insert: ", "heap in use (MiB): start"}},
		{[]string{"-mode", "latency", "-duration", "500ms", "-rate", "200"}, []string{"enqueue→start: p50", "enqueue call:  p50"}},
		{[]string{"-mode", "single", "-duration", "500ms"}, []string{"single insert: "}},
	} {
		t.Run(tc.args[1], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errOut bytes.Buffer
			if err := run(ctx, append([]string{"bench"}, tc.args...), &out, &errOut); err != nil {
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
		{[]string{"-mode", "burndown", "-n", "2000", "-shards", "3"}, []string{"bulk insert: 2000 jobs", "work: 2000 jobs"}},
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
