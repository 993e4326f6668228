package dashboard_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/internal/pgtest"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/storage/redisstore"
	"github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Note is the argument of the test task.
type Note struct {
	Text string `json:"text"`
}

// Echo is the task of every job the tests create; no worker runs it.
var Echo = taskflow.NewTask("dash-echo", func(_ context.Context, n Note) (string, error) { return n.Text, nil })

// xssText is the argument of a job that must be shown as text.
const xssText = `<script>window.pwned = true</script>`

// stores lists the backends the tests run on.
var stores = []struct {
	name string
	new  func(t testing.TB) storage.Store
}{
	{"memstore", func(testing.TB) storage.Store { return memstore.New() }},
	{"pgstore", func(t testing.TB) storage.Store { s, _, _ := pgStore(t); return s }},
	{"redisstore", func(t testing.TB) storage.Store { return redisStore(t) }},
	{"sqlitestore", func(t testing.TB) storage.Store { return sqliteStore(t) }},
}

// sqliteStore returns a SQLite store on a fresh file, closed after the
// test.
func sqliteStore(t testing.TB) storage.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "jobs.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// redisStore returns a Redis store of a fresh name on the server that
// TASKFLOW_TEST_REDIS_ADDR names (a loopback address), whose keys go after
// the test. Without the variable the test is skipped, or fails when
// CI=true.
func redisStore(t testing.TB) storage.Store {
	t.Helper()
	addr := os.Getenv("TASKFLOW_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TASKFLOW_TEST_REDIS_ADDR is not set; CI must provide Redis, e.g. 127.0.0.1:6379")
		}
		t.Skip("Redis tests skipped: set TASKFLOW_TEST_REDIS_ADDR=127.0.0.1:6379 to run them")
	}
	host, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		t.Fatalf("TASKFLOW_TEST_REDIS_ADDR %q: the tests use a loopback server only", addr)
	}
	client := redis.NewClient(&redis.Options{Addr: addr})
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tfdash-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, "{"+name+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			_ = client.Del(ctx, iter.Val()).Err()
		}
		_ = client.Close()
	})
	return redisstore.New(client, redisstore.Name(name))
}

// pgStore returns a PostgreSQL store on a fresh schema (see
// internal/pgtest), with its pool and schema name.
func pgStore(t testing.TB) (*pgstore.Store, *pgxpool.Pool, string) {
	t.Helper()
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	require.NoError(t, pgstore.Migrate(context.Background(), pool, pgstore.Schema(schema)))
	return pgstore.New(pool, pgstore.Schema(schema)), pool, schema
}

// fixture is a store holding a job of each kind, and a client on it.
type fixture struct {
	store  storage.Store
	client *taskflow.Client
	// Jobs by role: "enqueued", "failed", "succeeded", "scheduled",
	// "processing", "xss", "batch" (one of the batch), "continuation" (of
	// "enqueued"), "batch-continuation".
	jobs  map[string]uuid.UUID
	batch uuid.UUID
}

func newFixture(t testing.TB, store storage.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	c, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	require.NoError(t, err)
	f := &fixture{store: store, client: c, jobs: map[string]uuid.UUID{}}
	enqueue := func(role, text string, opts ...taskflow.JobOption) uuid.UUID {
		h, err := Echo.On(c).Enqueue(ctx, Note{Text: text}, opts...)
		require.NoError(t, err)
		f.jobs[role] = h.ID
		return h.ID
	}
	enqueue("processing", "running")
	jobs, err := store.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "worker-1", LeaseFor: time.Hour})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	_, err = store.ExtendLeases(ctx, &storage.ExtendParams{Owner: "worker-1", Jobs: map[uuid.UUID]int64{jobs[0].ID: jobs[0].LeaseToken},
		Until: time.Now().Add(time.Hour),
		Worker: &storage.WorkerInfo{ID: "worker-1", Host: "host-a", PID: 42, Queues: []string{"default"}, Concurrency: 4,
			StartedAt: time.Now().Add(-time.Minute), HeartbeatAt: time.Now()}})
	require.NoError(t, err)
	if jl, ok := store.(storage.JobLogs); ok {
		require.NoError(t, jl.AppendLogs(ctx, []storage.LogRecord{{JobID: jobs[0].ID, Attempt: 1, At: time.Now(), Level: "INFO", Message: "halfway <b>there</b>"}}))
		require.NoError(t, jl.SetProgress(ctx, []storage.Progress{{JobID: jobs[0].ID, Attempt: 1, Percent: 50, Message: "importing", At: time.Now()}}))
	}
	enqueue("enqueued", "hello", taskflow.Queue("mail"), taskflow.Priority(3))
	enqueue("xss", xssText)
	id := enqueue("failed", "will fail")
	require.NoError(t, c.ChangeState(ctx, id, states.Failed{FailedAt: time.Now(), ErrorType: "*errors.errorString",
		ErrorMessage: "disk full", ErrorDetails: "goroutine 7 [running]:\nmain.work()\n\t/src/work.go:12"}))
	id = enqueue("succeeded", "done")
	require.NoError(t, c.ChangeState(ctx, id, states.Succeeded{SucceededAt: time.Now(), Result: []byte(`{"ok":true}`), Duration: time.Second}))
	enqueue("scheduled", "later", taskflow.Delay(time.Hour))
	b, err := Echo.On(c).EnqueueBatch(ctx, []Note{{Text: "b1"}, {Text: "b2"}})
	require.NoError(t, err)
	f.batch, f.jobs["batch"] = b.ID, b.Handles[0].ID
	for role, parent := range map[string]uuid.UUID{"continuation": f.jobs["enqueued"], "batch-continuation": b.ID} {
		h, err := Echo.On(c).ContinueWith(ctx, parent, Note{Text: role})
		require.NoError(t, err)
		f.jobs[role] = h.ID
	}
	require.NoError(t, Echo.On(c).AddRecurring(ctx, "nightly", "0 2 * * *", Note{Text: "nightly"}, taskflow.TimeZone("Europe/Paris")))
	require.NoError(t, c.PauseQueue(ctx, "paused-queue"))
	return f
}

// mount serves h under /dash on a test server and returns its base URL
// and a client that keeps cookies and does not follow redirects.
func mount(t testing.TB, h http.Handler) (string, *http.Client) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/dash/", http.StripPrefix("/dash", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return srv.URL + "/dash", &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func newHandler(t testing.TB, c *taskflow.Client, opts dashboard.Options) *dashboard.Handler {
	t.Helper()
	h, err := dashboard.New(c, opts)
	require.NoError(t, err)
	return h
}
