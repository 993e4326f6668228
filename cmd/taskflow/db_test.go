package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// testDatabase returns TASKFLOW_TEST_DATABASE_URL, which must name a
// loopback host. Without it the test is skipped, or fails when CI=true.
func testDatabase(t *testing.T) string {
	t.Helper()
	url := os.Getenv("TASKFLOW_TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TASKFLOW_TEST_DATABASE_URL is not set; CI must provide PostgreSQL")
		}
		t.Skip("PostgreSQL tests skipped: set TASKFLOW_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run them")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(cfg.ConnConfig.Host); cfg.ConnConfig.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		t.Fatalf("TASKFLOW_TEST_DATABASE_URL host %q is not a loopback address", cfg.ConnConfig.Host)
	}
	return url
}

// fixture is a fresh schema and a client on it.
type fixture struct {
	url, schema string
	pool        *pgxpool.Pool
	store       *pgstore.Store
	client      *taskflow.Client
	reg         *taskflow.Registry
	email       taskflow.Bound[emailArgs, string]
	ids         map[string]string // what {name} stands for in arguments
}

type emailArgs struct {
	To string `json:"to"`
}

// newFixture creates a fresh schema, dropped after the test, migrated when
// migrate is true.
func newFixture(t *testing.T, migrate bool) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{url: testDatabase(t), ids: map[string]string{"unknown": uuid.NewString()}}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	f.schema = "tfcli_" + hex.EncodeToString(b)
	f.ids["schema"] = f.schema
	var err error
	if f.pool, err = pgxpool.New(ctx, f.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := f.pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{f.schema}.Sanitize()+" CASCADE"); err != nil {
			t.Error(err)
		}
		f.pool.Close()
	})
	if migrate {
		if err := pgstore.Migrate(ctx, f.pool, pgstore.Schema(f.schema)); err != nil {
			t.Fatal(err)
		}
	}
	f.store = pgstore.New(f.pool, pgstore.Schema(f.schema))
	f.reg = taskflow.NewRegistry()
	if f.client, err = taskflow.NewClient(f.store, taskflow.ClientOptions{Registry: f.reg}); err != nil {
		t.Fatal(err)
	}
	task, err := taskflow.RegisterTask(f.reg, "send-email", func(ctx context.Context, a emailArgs) (string, error) {
		<-ctx.Done() // runs until its worker stops
		return "", ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	f.email = task.On(f.client)
	return f
}

// seed stores jobs in each state of interest, a batch and a recurring job,
// and names their IDs: {enqueued}, {failed} and {succeeded} are jobs of
// send-email, {resize} a failed job of another task, {batch} a batch.
func (f *fixture) seed(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	enqueue := func(name, to string, opts ...taskflow.JobOption) uuid.UUID {
		h, err := f.email.Enqueue(ctx, emailArgs{To: to}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		f.ids[name] = h.ID.String()
		return h.ID
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	enqueue("enqueued", "ada@example.com", taskflow.Queue("mail"))
	failed := enqueue("failed", "bob@example.com", taskflow.Queue("mail"))
	must(f.client.ChangeState(ctx, failed, states.Failed{FailedAt: now, ErrorType: "*net.OpError",
		ErrorMessage: "smtp: connection refused", ErrorCode: "smtp.refused", ErrorDetails: "goroutine 7 [running]:\nmain.send()", Reason: "retries used up"}))
	must(f.store.AppendLogs(ctx, []storage.LogRecord{{JobID: failed, Attempt: 1, At: now, Level: "ERROR", Message: "sending failed",
		Attrs: []byte(`{"host":"smtp.example.com"}`)}}))
	must(f.store.SetProgress(ctx, []storage.Progress{{JobID: failed, Attempt: 1, Percent: 40, Message: "halfway", At: now}}))
	succeeded := enqueue("succeeded", "cy@example.com")
	must(f.client.ChangeState(ctx, succeeded, states.Succeeded{SucceededAt: now, Result: json.RawMessage(`"msg-1"`), Duration: 2 * time.Second}))

	reg := taskflow.NewRegistry()
	resize, err := taskflow.RegisterTask(reg, "resize-image", func(context.Context, struct{}) (struct{}, error) { return struct{}{}, nil })
	must(err)
	h, err := resize.On(f.client).Enqueue(ctx, struct{}{}, taskflow.Queue("images"))
	must(err)
	f.ids["resize"] = h.ID.String()
	must(f.client.ChangeState(ctx, h.ID, states.Failed{FailedAt: now, ErrorMessage: "bad image"}))

	batch, err := f.email.EnqueueBatch(ctx, []emailArgs{{To: "x@example.com"}, {To: "y@example.com"}}, taskflow.Queue("bulk"))
	must(err)
	f.ids["batch"] = batch.ID.String()
	must(f.email.AddRecurring(ctx, "nightly-digest", "0 3 * * *", emailArgs{To: "team@example.com"}))
}

// expand replaces {name} in s with f.ids[name].
func (f *fixture) expand(s string) string {
	for name, id := range f.ids {
		s = strings.ReplaceAll(s, "{"+name+"}", id)
	}
	return s
}

// run runs the command on the fixture's schema, unless args name another;
// {name} in args stands for f.ids[name].
func (f *fixture) run(t *testing.T, args ...string) result {
	t.Helper()
	expanded := make([]string, len(args), len(args)+2)
	for i, a := range args {
		expanded[i] = f.expand(a)
	}
	if !slices.Contains(args, "--schema") {
		expanded = append(expanded, "--schema", f.schema)
	}
	return taskflowCmd(t, f.url, expanded...)
}

// state returns the state of job {name}.
func (f *fixture) state(t *testing.T, name string) states.Name {
	t.Helper()
	j, err := f.client.Job(context.Background(), uuid.MustParse(f.ids[name]))
	if err != nil {
		t.Fatal(err)
	}
	return j.State.Name()
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, s)
	}
}

// jobsJSON is what jobs list --json prints.
type jobsJSON []struct {
	ID    string
	Task  string
	Queue string
	State string
	Error string
}

// Each command against a seeded schema: exit status, output, and for JSON
// output and changes, what they hold.
func TestCommandsOnPostgres(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
		check          func(t *testing.T, f *fixture, r result)
	}{
		{name: "stats", args: []string{"stats"}, stdout: []string{"STATE", "failed      2", "mail", "PERIOD", "last 24h"}},
		{name: "stats of a queue", args: []string{"stats", "--queue", "mail"}, stdout: []string{"JOBS IN mail", "failed      1", "enqueued    1", "succeeded   0"}},
		{name: "stats json", args: []string{"stats", "--json"}, check: func(t *testing.T, f *fixture, r result) {
			var s struct {
				States []struct {
					State     string
					Jobs      int64
					Estimated bool
				}
				Queues []struct {
					Name      string
					Enqueued  int64
					LatencyMS float64 `json:"latency_ms"`
				}
				Outcomes []struct {
					Period    string
					Succeeded int64
				}
			}
			decode(t, r.stdout, &s)
			counts := map[string]int64{}
			for _, st := range s.States {
				counts[st.State] = st.Jobs
			}
			if counts["enqueued"] != 3 || counts["failed"] != 2 || counts["succeeded"] != 1 || len(s.States) != len(states.Names) {
				t.Errorf("states = %+v", s.States)
			}
			if len(s.Queues) != 2 || s.Queues[0].Name != "bulk" || s.Queues[0].Enqueued != 2 || s.Queues[1].Name != "mail" || s.Queues[1].LatencyMS <= 0 {
				t.Errorf("queues = %+v", s.Queues)
			}
			if len(s.Outcomes) != 3 || s.Outcomes[0].Period != "1h" || s.Outcomes[2].Period != "7d" {
				t.Errorf("outcomes = %+v", s.Outcomes)
			}
		}},
		{name: "queues", args: []string{"queues"}, stdout: []string{"QUEUE", "mail", "bulk", "SERVED", "NO WORKER", "TASK NO LIVE WORKER RUNS (0 workers)"}},
		{name: "queues pause and resume", args: []string{"queues", "pause", "mail"}, stdout: []string{`queue "mail" paused`},
			check: func(t *testing.T, f *fixture, r result) {
				var qs []struct {
					Name   string
					Paused bool
				}
				decode(t, f.run(t, "queues", "list", "--json").stdout, &qs)
				if len(qs) != 2 || qs[1].Name != "mail" || !qs[1].Paused {
					t.Fatalf("after pause: %+v", qs)
				}
				f.run(t, "queues", "resume", "mail").expect(t, 0, []string{`queue "mail" resumed`}, nil)
				decode(t, f.run(t, "queues", "--json").stdout, &qs)
				if qs[1].Paused {
					t.Fatalf("after resume: %+v", qs)
				}
			}},
		{name: "queues pause bad name", args: []string{"queues", "pause", "Mail!"}, code: 2, stderr: []string{`invalid queue name "Mail!"`}},
		{name: "workers none", args: []string{"workers"}, stdout: []string{"no live worker"}},
		{name: "limits none", args: []string{"limits"}, stdout: []string{"no limit declared"}},
		{name: "limits", args: []string{"limits", "--json"}, check: func(t *testing.T, f *fixture, r result) {
			err := f.store.SetLimits(context.Background(), []storage.Limit{
				{Scope: storage.ScopeQueue, Name: "mail", Concurrency: 3},
				{Scope: storage.ScopeTask, Name: "send-email", Rate: 5, Period: time.Second, Burst: 1},
			})
			if err != nil {
				t.Fatal(err)
			}
			f.run(t, "limits").expect(t, 0, []string{"SCOPE", "HELD", "queue", "mail", "task", "send-email", "5/1s+1"}, nil)
			var ls []struct {
				Scope, Name string
				Concurrency int
				Rate        int
				PerMS       float64 `json:"per_ms"`
			}
			decode(t, f.run(t, "limits", "--json").stdout, &ls)
			if len(ls) != 2 || ls[0].Scope != "queue" || ls[0].Concurrency != 3 || ls[1].Name != "send-email" || ls[1].Rate != 5 || ls[1].PerMS != 1000 {
				t.Fatalf("limits --json = %+v", ls)
			}
		}},
		{name: "stats and queues tell held from ready", args: []string{"stats"}, stdout: []string{"enqueued    3", "  held      0", "  ready     3"},
			check: func(t *testing.T, f *fixture, r result) {
				ctx := context.Background()
				if err := f.store.SetLimits(ctx, []storage.Limit{{Scope: storage.ScopeTask, Name: "send-email", Concurrency: 1}}); err != nil {
					t.Fatal(err)
				}
				leased, err := f.store.Fetch(ctx, &storage.FetchParams{Queues: []string{"mail"}, Limit: 1, Owner: "test", LeaseFor: time.Minute})
				if err != nil || len(leased) != 1 {
					t.Fatalf("fetch: %v, %d jobs", err, len(leased))
				}
				f.run(t, "stats").expect(t, 0, []string{"enqueued    2", "  held      2", "  ready     0", "HELD"}, nil)
				var s struct{ Held, Ready int64 }
				decode(t, f.run(t, "stats", "--json").stdout, &s)
				var qs []struct {
					Name           string
					Enqueued, Held int64
				}
				decode(t, f.run(t, "queues", "--json").stdout, &qs)
				if s.Held != 2 || s.Ready != 0 || len(qs) != 1 || qs[0].Name != "bulk" || qs[0].Enqueued != 2 || qs[0].Held != 2 {
					t.Fatalf("stats --json = %+v, queues --json = %+v", s, qs)
				}
			}},
		{name: "jobs list", args: []string{"jobs", "list"}, stdout: []string{"ID", "{failed}", "send-email", "resize-image", "smtp: connection refused"}},
		{name: "jobs list failed json", args: []string{"jobs", "list", "--state", "failed", "--json"}, check: func(t *testing.T, f *fixture, r result) {
			var jobs jobsJSON
			decode(t, r.stdout, &jobs)
			if len(jobs) != 2 || jobs[0].State != "failed" || jobs[1].State != "failed" || jobs[1].Error != "smtp: connection refused" {
				t.Fatalf("jobs = %+v", jobs)
			}
		}},
		{name: "jobs list by task queue and limit", args: []string{"jobs", "list", "--task", "send-email", "--queue", "mail", "--limit", "1", "--json"},
			check: func(t *testing.T, f *fixture, r result) {
				var jobs jobsJSON
				decode(t, r.stdout, &jobs)
				if len(jobs) != 1 || jobs[0].Task != "send-email" || jobs[0].Queue != "mail" {
					t.Fatalf("jobs = %+v", jobs)
				}
				if strings.Contains(r.stderr, "--limit for more") {
					t.Errorf("--json printed a hint: %s", r.stderr)
				}
			}},
		{name: "jobs list none", args: []string{"jobs", "list", "--task", "nothing"}, stdout: []string{"no jobs"}},
		{name: "jobs list limit", args: []string{"jobs", "list", "--limit", "2"}, stderr: []string{"the newest 2 jobs; pass --limit for more"}},
		{name: "jobs show failed", args: []string{"jobs", "show", "{failed}"}, stdout: []string{
			"State:     failed (retries used up)", `Args:      {"to":"bob@example.com"}`, "Failure:   *net.OpError smtp: connection refused",
			"Code:      smtp.refused",
			"    goroutine 7 [running]:", "Progress:  40% halfway", "History:", "enqueued", "Logs:", "ERROR", `sending failed {"host": "smtp.example.com"}`}},
		{name: "jobs show succeeded", args: []string{"jobs", "show", "{succeeded}"}, stdout: []string{`Result:    "msg-1"`, "Duration:  2s"}},
		{name: "jobs show json", args: []string{"jobs", "show", "{failed}", "--json"}, check: func(t *testing.T, f *fixture, r result) {
			var j struct {
				ID        string
				State     string
				Args      struct{ To string }
				StateData struct {
					ErrorMessage string `json:"error_message"`
				} `json:"state_data"`
				History  []struct{ State string }
				Logs     []struct{ Message string }
				Progress struct{ Percent int }
			}
			decode(t, r.stdout, &j)
			if j.ID != f.ids["failed"] || j.State != "failed" || j.Args.To != "bob@example.com" || j.StateData.ErrorMessage != "smtp: connection refused" ||
				len(j.History) != 2 || j.History[0].State != "enqueued" || len(j.Logs) != 1 || j.Logs[0].Message != "sending failed" || j.Progress.Percent != 40 {
				t.Fatalf("jobs show --json = %+v", j)
			}
		}},
		{name: "jobs show unknown", args: []string{"jobs", "show", "{unknown}"}, code: 1, stderr: []string{"job {unknown} not found"}},
		{name: "jobs requeue", args: []string{"jobs", "requeue", "{failed}"}, stdout: []string{"requeued {failed}"},
			check: func(t *testing.T, f *fixture, r result) {
				if st := f.state(t, "failed"); st != states.NameEnqueued {
					t.Fatalf("requeued job is %s", st)
				}
			}},
		{name: "jobs delete some unknown", args: []string{"jobs", "delete", "{failed}", "{unknown}"}, code: 1,
			stdout: []string{"deleted {failed}"}, stderr: []string{"deleted 1 of 2 jobs, 1 failed", "job {unknown} not found"},
			check: func(t *testing.T, f *fixture, r result) {
				if st := f.state(t, "failed"); st != states.NameDeleted {
					t.Fatalf("deleted job is %s", st)
				}
			}},
		{name: "jobs requeue selection needs yes", args: []string{"jobs", "requeue", "--state", "failed"}, code: 2,
			stderr: []string{"requeue 2 jobs (state failed)?: refusing without --yes, since stdin is not a terminal"},
			check: func(t *testing.T, f *fixture, r result) {
				if st := f.state(t, "failed"); st != states.NameFailed {
					t.Fatalf("job is %s after a refused selection", st)
				}
			}},
		{name: "jobs requeue selection", args: []string{"jobs", "requeue", "--state", "failed", "--task", "send-email", "--yes", "--json"},
			check: func(t *testing.T, f *fixture, r result) {
				var out struct {
					Done   []string
					Failed []any
				}
				decode(t, r.stdout, &out)
				if len(out.Done) != 1 || out.Done[0] != f.ids["failed"] || len(out.Failed) != 0 {
					t.Fatalf("requeue --json = %+v", out)
				}
				if f.state(t, "failed") != states.NameEnqueued || f.state(t, "resize") != states.NameFailed {
					t.Fatal("the selection requeued the wrong jobs")
				}
			}},
		{name: "jobs delete selection", args: []string{"jobs", "delete", "--state", "failed", "--yes"}, stdout: []string{"deleted {failed}", "deleted {resize}"}},
		{name: "jobs delete empty selection", args: []string{"jobs", "delete", "--task", "nothing"}, stdout: []string{"no jobs match"}},
		{name: "recurring list", args: []string{"recurring", "list"}, stdout: []string{"nightly-digest", "send-email", "0 3 * * *"}},
		{name: "recurring trigger", args: []string{"recurring", "trigger", "nightly-digest"}, stdout: []string{`recurring job "nightly-digest" triggered: job `},
			check: func(t *testing.T, f *fixture, r result) {
				id := strings.TrimSpace(r.stdout[strings.LastIndex(r.stdout, " ")+1:])
				f.ids["triggered"] = id
				if st := f.state(t, "triggered"); st != states.NameEnqueued {
					t.Fatalf("triggered job is %s", st)
				}
			}},
		{name: "recurring pause resume remove", args: []string{"recurring", "pause", "nightly-digest"}, stdout: []string{"paused"},
			check: func(t *testing.T, f *fixture, r result) {
				var defs []struct {
					ID     string
					Paused bool
				}
				decode(t, f.run(t, "recurring", "list", "--json").stdout, &defs)
				if len(defs) != 1 || !defs[0].Paused {
					t.Fatalf("after pause: %+v", defs)
				}
				f.run(t, "recurring", "resume", "nightly-digest").expect(t, 0, []string{"resumed"}, nil)
				f.run(t, "recurring", "remove", "nightly-digest").expect(t, 0, []string{"removed"}, nil)
				f.run(t, "recurring").expect(t, 0, []string{"no recurring jobs"}, nil)
			}},
		{name: "recurring unknown", args: []string{"recurring", "trigger", "nope"}, code: 1, stderr: []string{`recurring job "nope" not found`}},
		{name: "batch show", args: []string{"batch", "show", "{batch}"}, stdout: []string{"2 jobs, 0 succeeded, 0 failed, 0 deleted, 2 pending", "bulk"}},
		{name: "batch show json", args: []string{"batch", "show", "{batch}", "--json"}, check: func(t *testing.T, f *fixture, r result) {
			var b struct {
				ID      string
				Total   int
				Pending int
				Done    bool
				Jobs    []struct{ Queue string }
			}
			decode(t, r.stdout, &b)
			if b.ID != f.ids["batch"] || b.Total != 2 || b.Pending != 2 || b.Done || len(b.Jobs) != 2 || b.Jobs[0].Queue != "bulk" {
				t.Fatalf("batch show --json = %+v", b)
			}
		}},
		{name: "batch unknown", args: []string{"batch", "show", "{unknown}"}, code: 1, stderr: []string{"batch {unknown} not found"}},
		{name: "bad schema name", args: []string{"stats", "--schema", "Bad-Name"}, code: 2, stderr: []string{`invalid schema name "Bad-Name"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, true)
			f.seed(t)
			expand := func(s []string) []string {
				out := make([]string, len(s))
				for i, v := range s {
					out[i] = f.expand(v)
				}
				return out
			}
			r := f.run(t, tc.args...)
			r.expect(t, tc.code, expand(tc.stdout), expand(tc.stderr))
			if tc.check != nil && !t.Failed() {
				tc.check(t, f, r)
			}
		})
	}
}

// On an empty store, queues and stats say that no queue has jobs rather
// than print a bare header.
func TestNoQueues(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"queues"}, {"stats"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, true)
			r := f.run(t, args...)
			r.expect(t, 0, []string{"no queue has jobs waiting or is paused"}, nil)
			if strings.Contains(r.stdout, "QUEUE") {
				t.Errorf("a bare header:\n%s", r.stdout)
			}
		})
	}
}

// On a schema that was never migrated, every command that reads jobs fails
// with status 1 and says how to migrate.
func TestUnmigratedSchema(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"stats"}, {"queues"}, {"workers"}, {"jobs", "list"}, {"jobs", "show", uuid.NewString()},
		{"recurring", "list"}, {"batch", "show", uuid.NewString()},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, false)
			f.run(t, args...).expect(t, 1, nil, []string{`schema "` + f.schema + `" has no taskflow tables`, "run `taskflow migrate up`",
				"(here: taskflow migrate up --schema " + f.schema + ")"})
		})
	}
}

// migrate up, status, down and sql on a fresh schema, in order.
func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	latest := len(pgstore.Migrations())
	status := func(t *testing.T) (version int) {
		t.Helper()
		r := f.run(t, "migrate", "status", "--json")
		r.expect(t, 0, nil, nil)
		var s struct {
			Schema     string
			Version    int
			Latest     int
			Migrations []struct {
				Version   int
				Name      string
				AppliedAt time.Time `json:"applied_at"`
			}
		}
		decode(t, r.stdout, &s)
		if s.Schema != f.schema || s.Latest != latest || len(s.Migrations) != latest || s.Migrations[0].Name != "init" {
			t.Fatalf("migrate status --json = %+v", s)
		}
		for _, m := range s.Migrations {
			if m.AppliedAt.IsZero() == (m.Version <= s.Version) {
				t.Fatalf("version %d applied at %v, schema at %d", m.Version, m.AppliedAt, s.Version)
			}
		}
		return s.Version
	}
	steps := []struct {
		args           []string
		code           int
		stdout, stderr []string
		version        int
	}{
		{[]string{"migrate", "status"}, 0, []string{"1        init", "pending", "is at version 0 of"}, nil, 0},
		{[]string{"migrate", "down"}, 0, []string{"is at version 0 already"}, nil, 0},
		{[]string{"migrate", "up", "--to", "3"}, 0, []string{"version 0 → 3"}, nil, 3},
		{[]string{"migrate", "down", "--to", "5"}, 2, nil, []string{"is at version 3, below --to 5: use migrate up"}, 3},
		{[]string{"migrate"}, 0, []string{"version 3 → " + strconv.Itoa(latest)}, nil, latest},
		{[]string{"migrate", "up"}, 0, []string{"is at version " + strconv.Itoa(latest) + " already"}, nil, latest},
		{[]string{"migrate", "status"}, 0, []string{"is up to date"}, nil, latest},
		{[]string{"migrate", "up", "--to", "2"}, 2, nil, []string{"above --to 2: use migrate down"}, latest},
		{[]string{"migrate", "down"}, 2, nil, []string{"refusing without --yes, since stdin is not a terminal"}, latest},
		{[]string{"migrate", "down", "--yes"}, 0, []string{"version " + strconv.Itoa(latest) + " → " + strconv.Itoa(latest-1)}, nil, latest - 1},
		{[]string{"migrate", "down", "--to", "0", "--yes"}, 0, []string{"→ 0"}, nil, 0},
		{[]string{"migrate", "up"}, 0, []string{"version 0 → " + strconv.Itoa(latest)}, nil, latest},
	}
	for _, s := range steps {
		f.run(t, s.args...).expect(t, s.code, s.stdout, s.stderr)
		if v := status(t); v != s.version {
			t.Fatalf("after %q the schema is at version %d, want %d", s.args, v, s.version)
		}
	}
}

// A live worker is listed with the job it runs.
func TestWorkersCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	rig.Start(t, f.store, rig.Options{Worker: taskflow.WorkerOptions{ID: "cli-test-worker", Queues: []string{"mail"}, Concurrency: 3,
		Registry: f.reg, HeartbeatInterval: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		ShutdownTimeout: time.Millisecond}})
	h, err := f.email.Enqueue(context.Background(), emailArgs{To: "ada@example.com"}, taskflow.Queue("mail"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := f.client.Job(context.Background(), h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Name() == states.NameProcessing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job is %s after 10s", j.State.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.run(t, "workers").expect(t, 0, []string{"cli-test-worker", "mail", "HEARTBEAT", "RUNNING JOB", h.ID.String()}, nil)
	var qs []struct {
		Name     string
		Unserved bool
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := f.email.Enqueue(context.Background(), emailArgs{To: "bo@example.com"}, taskflow.Queue("bulk")); err != nil {
			t.Fatal(err)
		}
		decode(t, f.run(t, "queues", "--json").stdout, &qs)
		if len(qs) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(qs) != 1 || qs[0].Name != "bulk" || !qs[0].Unserved {
		t.Fatalf("queues --json with a worker serving mail only = %+v", qs)
	}
	r := f.run(t, "workers", "--json")
	var ws []struct {
		ID          string
		Queues      []string
		Concurrency int
		Tasks       []string
		HeartbeatAt time.Time `json:"heartbeat_at"`
		Running     []struct{ ID, Task string }
	}
	decode(t, r.stdout, &ws)
	if len(ws) != 1 || ws[0].ID != "cli-test-worker" || ws[0].Concurrency != 3 || ws[0].HeartbeatAt.IsZero() || !slices.Contains(ws[0].Tasks, "send-email") ||
		len(ws[0].Running) != 1 || ws[0].Running[0].ID != h.ID.String() || ws[0].Running[0].Task != "send-email" {
		t.Fatalf("workers --json = %+v", ws)
	}
}

// On a terminal, a selection runs once the user answers yes, and not
// otherwise. script(1) gives the command a terminal.
func TestConfirmOnTerminal(t *testing.T) {
	t.Parallel()
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("script(1) (Debian's bsdutils) is missing")
		}
		t.Skip("script(1) is missing, so there is no terminal to test with")
	}
	for _, tc := range []struct {
		answer string
		code   int
		want   string
		state  states.Name
	}{
		{"y", 0, "deleted {failed}", states.NameDeleted},
		{"n", 1, "jobs delete: not confirmed; nothing changed", states.NameFailed},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, true)
			f.seed(t)
			cmd := exec.Command(scriptCmd, "-qec", binary+" jobs delete --task send-email --state failed --schema "+f.schema, "/dev/null")
			cmd.Env = append(os.Environ(), "TASKFLOW_DATABASE_URL="+f.url)
			cmd.Stdin = strings.NewReader(tc.answer + "\n")
			out, err := cmd.CombinedOutput()
			code := 0
			if exit, ok := err.(*exec.ExitError); ok {
				code = exit.ExitCode()
			}
			for _, want := range []string{"delete 1 job (state failed, task send-email)? [y/N]", f.expand(tc.want)} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if st := f.state(t, "failed"); st != tc.state {
				t.Errorf("the job is %s, want %s", st, tc.state)
			}
		})
	}
}

// TestDashboardCommand serves the dashboard as a subprocess, fetches a page
// and a job's page, and stops it with SIGINT.
func TestDashboardCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	h, err := f.email.Enqueue(context.Background(), emailArgs{To: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "dashboard", "--addr", "127.0.0.1:0", "--read-only", "--schema", f.schema)
	cmd.Env = append(os.Environ(), "TASKFLOW_DATABASE_URL="+f.url)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil {
		t.Fatalf("no address on stderr: %v", err)
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "dashboard on ")
	if !ok {
		t.Fatalf("stderr said %q", line)
	}
	for _, tt := range []struct{ path, want string }{
		{"/", "enqueued"},
		{"/job/" + h.ID.String(), "ada@example.com"},
	} {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tt.want) {
			t.Fatalf("GET %s: %d, want 200 with %q", tt.path, resp.StatusCode, tt.want)
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v, want exit 0", err)
	}
}
