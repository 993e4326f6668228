package dashboard_test

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// fillSQL inserts $1 jobs straight into the jobs table, as a large store
// holds them: per thousand, 900 succeeded, 50 deleted, 30 enqueued, 10
// scheduled, 8 failed, 1 awaiting and 1 processing, over three queues and
// five tasks; the first 100,000 in 100 batches. The IDs are UUIDv7, a
// millisecond apart, in the order of insertion, as taskflow makes them:
// random IDs (v4) would scatter a walk of the primary key over the whole
// table, as no store of taskflow's is.
const fillSQL = `INSERT INTO %[1]s.jobs (id, task, args, queue, state, run_at, created_at, updated_at, enqueued_seq, lease_owner, lease_until, batch_id)
SELECT (lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint - $1 + i), 12, '0') || '7' || substr(md5(i::text), 1, 3) || '8' ||
		substr(md5(i::text), 4, 15))::uuid,
	'bulk-' || (i %% 5), '\x7b7d', (ARRAY['default', 'mail', 'reports'])[i %% 3 + 1], st,
	CASE WHEN st = 'scheduled' THEN now() + i * interval '1 second' END, now(), now(),
	CASE WHEN st = 'enqueued' THEN nextval('%[1]s.enqueue_seq') END,
	CASE WHEN st = 'processing' THEN 'bulk-worker' END, CASE WHEN st = 'processing' THEN now() + interval '1 hour' END,
	CASE WHEN i <= 100000 THEN md5('batch' || (i / 1000))::uuid END
FROM generate_series(1, $1) AS i, LATERAL (SELECT ` + fillState + `) AS s`

// fillState is the state of job i of fillSQL and fillSQLite.
const fillState = `CASE
	WHEN i %% 1000 < 900 THEN 'succeeded' WHEN i %% 1000 < 950 THEN 'deleted' WHEN i %% 1000 < 980 THEN 'enqueued'
	WHEN i %% 1000 < 990 THEN 'scheduled' WHEN i %% 1000 < 998 THEN 'failed' WHEN i %% 1000 < 999 THEN 'awaiting'
	ELSE 'processing' END AS st`

// fillSQLite is fillSQL on sqlitestore's table (times in Unix
// microseconds, enqueue sequence i), its %% written as fillSQL's.
const fillSQLite = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1),
	s AS (SELECT i, ` + fillState + ` FROM n),
	t(now) AS (SELECT CAST(unixepoch('subsec') * 1000000 AS INTEGER))
INSERT INTO jobs (id, task, args, queue, state, run_at, created_at, updated_at, seq, lease_owner, lease_until, batch_id)
SELECT unhex(printf('%%012x', now / 1000 - ?1 + i) || '7' || substr(hex(randomblob(2)), 1, 3) || '8' || substr(hex(randomblob(8)), 1, 15)),
	'bulk-' || (i %% 5), x'7b7d', CASE i %% 3 WHEN 0 THEN 'default' WHEN 1 THEN 'mail' ELSE 'reports' END, st,
	CASE WHEN st = 'scheduled' THEN now + i * 1000000 END, now, now,
	CASE WHEN st = 'enqueued' THEN i END,
	CASE WHEN st = 'processing' THEN 'bulk-worker' END, CASE WHEN st = 'processing' THEN now + 3600000000 END,
	CASE WHEN i <= 100000 THEN unhex(printf('%%032x', i / 1000 + 1)) END
FROM s, t`

// BenchmarkPages renders every page of a PostgreSQL store holding a
// million jobs (and the test fixture's). It needs TASKFLOW_TEST_DATABASE_URL:
//
//	go test ./dashboard -run '^$' -bench Pages -benchtime 20x
func BenchmarkPages(b *testing.B) {
	store, pool, schema := pgStore(b)
	fill(b, pool, schema, 1_000_000)
	f := newFixture(b, store)
	h, err := dashboard.New(f.client, dashboard.Options{})
	require.NoError(b, err)
	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"enqueued", "/jobs/enqueued"},
		{"enqueued in a queue", "/jobs/enqueued?queue=mail"},
		{"scheduled", "/jobs/scheduled"},
		{"retries", "/retries"},
		{"retries, pages of 500", "/retries?size=500"},
		{"processing", "/jobs/processing"},
		{"awaiting", "/jobs/awaiting"},
		{"succeeded", "/jobs/succeeded"},
		{"succeeded, last page", "/jobs/succeeded?last=1"},
		{"succeeded by task and queue", "/jobs/succeeded?task=bulk-3&queue=mail"},
		{"succeeded of a rare task", "/jobs/succeeded?task=dash-echo"},
		{"failed", "/jobs/failed"},
		{"failed by task", "/jobs/failed?task=bulk-2"},
		{"deleted", "/jobs/deleted"},
		{"deleted of a queue without jobs", "/jobs/deleted?queue=none"},
		{"job", "/job/" + f.jobs["failed"].String()},
		{"recurring", "/recurring"},
		{"batches", "/batches"},
		{"batch", "/batches/" + f.batch.String()},
		{"queues", "/queues"},
		{"workers", "/workers"},
		{"limits", "/limits"},
		{"a job no worker can run", "/job/" + f.jobs["enqueued"].String()},
		{"live", "/api/live"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				serve(b, h, p.path)
			}
		})
	}
}

// fill inserts n jobs with fillSQL, then analyzes the table.
func fill(b *testing.B, pool *pgxpool.Pool, schema string, n int) {
	ctx := context.Background()
	_, err := pool.Exec(ctx, fmt.Sprintf(fillSQL, pgx.Identifier{schema}.Sanitize()), n)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, "ANALYZE "+pgx.Identifier{schema}.Sanitize()+".jobs")
	require.NoError(b, err)
}

// serve renders path, which must succeed, and returns the page.
func serve(b *testing.B, h http.Handler, path string) string {
	req := httptest.NewRequest(http.MethodGet, "http://localhost"+path, nil)
	req.RemoteAddr = "127.0.0.1:5000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %.300s", path, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

var benchJobs = flag.Int("dash.jobs", 100_000, "jobs in the store of BenchmarkListDepth (1000000 for the target's million)")

var linkRE = regexp.MustCompile(`href="([^"]+)" id="page-(first|prev|next|last)"`)

// links returns the paging links of a page ("first", "prev", "next",
// "last"), paths relative to the base.
func links(page string) map[string]string {
	out := map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(page, -1) {
		out[m[2]] = html.UnescapeString(m[1])
	}
	return out
}

// link returns the path of a paging link of a page, relative to the base.
func link(b *testing.B, page, which string) string {
	l, ok := links(page)[which]
	if !ok {
		b.Fatalf("no %s link", which)
	}
	return l
}

// bigStore is a store filled with n jobs, and the CPU time that the
// server processes serving it have used so far (none in process).
type bigStore func(b *testing.B, n int) (storage.Store, func() time.Duration)

// bigPG fills a fresh PostgreSQL schema by fillSQL; its CPU is that of
// the pool's backends.
func bigPG(b *testing.B, n int) (storage.Store, func() time.Duration) {
	store, pool, schema := pgStore(b)
	fill(b, pool, schema, n)
	return store, func() time.Duration {
		rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE application_name = current_setting('application_name')`)
		require.NoError(b, err)
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		require.NoError(b, err)
		var total time.Duration
		for _, pid := range pids {
			total += procCPU(b, fmt.Sprintf("/proc/%d/stat", pid))
		}
		return total
	}
}

// bigSQLite fills a fresh file by fillSQLite, as it is: no ANALYZE, which
// sqlitestore does not run.
func bigSQLite(b *testing.B, n int) (storage.Store, func() time.Duration) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "jobs.db")
	store, err := sqlitestore.Open(ctx, path)
	require.NoError(b, err)
	b.Cleanup(func() { _ = store.Close() })
	db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=busy_timeout(5000)")
	require.NoError(b, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, strings.ReplaceAll(fillSQLite, "%%", "%"), n)
	require.NoError(b, err)
	_, err = db.ExecContext(ctx, `UPDATE counters SET seq = ?`, n)
	require.NoError(b, err)
	return store, nil
}

// bigRedis fills a fresh Redis store (TASKFLOW_TEST_REDIS_ADDR) through
// its own Create, 5,000 jobs a call, with fillSQL's mix: job i in the
// state of fillState, queue and task as there, the first 100,000 in 100
// batches; the awaiting jobs continue an enqueued job of their own queue,
// and the processing ones are enqueued first (at a higher priority) and
// fetched.
// Its CPU is the Redis server's (used_cpu_sys and used_cpu_user).
func bigRedis(b *testing.B, n int) (storage.Store, func() time.Duration) {
	ctx := context.Background()
	store := redisStore(b)
	parent := &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "bulk-0", Args: []byte(`{}`), Queue: "parents",
		State: states.NameEnqueued, CreatedAt: time.Now()}
	parent.StateData, _ = states.Marshal(states.Enqueued{Queue: "parents", EnqueuedAt: parent.CreatedAt})
	_, err := store.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{parent}})
	require.NoError(b, err)
	now := time.Now()
	data := map[states.Name][]byte{}
	for name, st := range map[states.Name]states.State{
		states.NameSucceeded: states.Succeeded{SucceededAt: now, Result: []byte(`{}`)},
		states.NameDeleted:   states.Deleted{DeletedAt: now},
		states.NameFailed:    states.Failed{FailedAt: now, ErrorMessage: "boom"},
		states.NameAwaiting:  states.Awaiting{ParentID: parent.ID.String(), On: states.OnSuccess},
	} {
		data[name], err = states.Marshal(st)
		require.NoError(b, err)
	}
	const chunk = 5000
	leased := map[string]int{}
	for done := 0; done < n; done += chunk {
		jobs := make([]*storage.Job, min(chunk, n-done))
		for k := range jobs {
			i := done + k + 1
			j := &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "bulk-" + strconv.Itoa(i%5), Args: []byte(`{}`),
				Queue: []string{"default", "mail", "reports"}[i%3], CreatedAt: now}
			switch r := i % 1000; {
			case r < 900:
				j.State = states.NameSucceeded
			case r < 950:
				j.State = states.NameDeleted
			case r < 980:
				j.State = states.NameEnqueued
				j.StateData, _ = states.Marshal(states.Enqueued{Queue: j.Queue, EnqueuedAt: now})
			case r < 990:
				j.State, j.RunAt = states.NameScheduled, now.Add(time.Duration(i)*time.Second)
				j.StateData, _ = states.Marshal(states.Scheduled{EnqueueAt: j.RunAt, ScheduledAt: now})
			case r < 998:
				j.State = states.NameFailed
			case r < 999:
				j.State, j.ParentID = states.NameAwaiting, parent.ID
			default: // enqueued first in its queue, then fetched
				j.State, j.Priority = states.NameEnqueued, 1
				j.StateData, _ = states.Marshal(states.Enqueued{Queue: j.Queue, EnqueuedAt: now})
				leased[j.Queue]++
			}
			if j.StateData == nil {
				j.StateData = data[j.State]
			}
			if i <= 100_000 {
				j.BatchID = uuid.NewSHA1(uuid.NameSpaceOID, []byte(strconv.Itoa(i/1000)))
			}
			jobs[k] = j
		}
		_, err := store.Create(ctx, &storage.CreateParams{Jobs: jobs})
		require.NoError(b, err)
	}
	for q, left := range leased {
		for left > 0 {
			jobs, err := store.Fetch(ctx, &storage.FetchParams{Queues: []string{q}, Limit: min(left, 500), Owner: "bulk-worker", LeaseFor: time.Hour})
			require.NoError(b, err)
			require.NotEmpty(b, jobs)
			left -= len(jobs)
		}
	}
	client := redis.NewClient(&redis.Options{Addr: os.Getenv("TASKFLOW_TEST_REDIS_ADDR")})
	b.Cleanup(func() { _ = client.Close() })
	return store, func() time.Duration {
		info, err := client.Info(context.Background(), "cpu").Result()
		require.NoError(b, err)
		var total time.Duration
		for _, line := range strings.Fields(info) {
			for _, key := range []string{"used_cpu_sys:", "used_cpu_user:"} {
				if v, ok := strings.CutPrefix(line, key); ok {
					s, err := strconv.ParseFloat(v, 64)
					require.NoError(b, err)
					total += time.Duration(s * float64(time.Second))
				}
			}
		}
		return total
	}
}

// procCPU returns the CPU time (user and system) of the process whose
// /proc stat file is path, or 0 if it is gone.
func procCPU(b *testing.B, path string) time.Duration {
	stat, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:])) // fields from the third on
	var ticks int64
	for _, v := range f[11:13] { // utime and stime, in clock ticks of 1/100 s
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(b, err)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// BenchmarkListDepth renders the pages of every list, with each filter
// the pages offer, at the start, deep in and at the end, at the sizes of
// 20 and 500, on a PostgreSQL store, a SQLite one and a Redis one
// (TASKFLOW_TEST_REDIS_ADDR) of -dash.jobs jobs (100,000 by default),
// filled by one INSERT or, on Redis, through Create: keyset pages cost the
// same at any depth. It reports the median time of a page (median-ms), the
// CPU time of the benchmark's process per page (cpu-ms/op) and, on
// PostgreSQL and Redis, that of the server processes serving it
// (server-cpu-ms/op), which depend less on what else runs. The target is a median under 200 ms a
// page on a million jobs:
//
//	go test ./dashboard -run '^$' -bench ListDepth -benchtime 10x -dash.jobs 1000000
func BenchmarkListDepth(b *testing.B) {
	for _, st := range []struct {
		name string
		open bigStore
	}{{"pgstore", bigPG}, {"sqlitestore", bigSQLite}, {"redisstore", bigRedis}} {
		b.Run(st.name, func(b *testing.B) {
			store, serverCPU := st.open(b, *benchJobs)
			c, err := taskflow.NewClient(store, taskflow.ClientOptions{})
			require.NoError(b, err)
			h, err := dashboard.New(c, dashboard.Options{})
			require.NoError(b, err)
			for _, list := range depthLists {
				for _, size := range []string{"20", "500"} {
					path := list + map[bool]string{true: "&", false: "?"}[strings.Contains(list, "?")] + "size=" + size
					first := serve(b, h, path)
					if !strings.Contains(first, `id="page-last"`) {
						continue // a single page
					}
					last := serve(b, h, link(b, first, "last"))
					for _, p := range []struct{ name, path string }{
						{"first", path},
						{"second", link(b, first, "next")},
						{"last", link(b, first, "last")},
						{"before last", link(b, last, "prev")},
					} {
						b.Run(list+" size "+size+" "+p.name, func(b *testing.B) { renderCost(b, h, p.path, serverCPU) })
					}
				}
			}
		})
	}
}

// depthLists are the lists of BenchmarkListDepth.
var depthLists = []string{
	"/jobs/enqueued", "/jobs/enqueued?queue=mail", "/jobs/enqueued?task=bulk-1",
	"/jobs/scheduled", "/jobs/scheduled?queue=reports",
	"/jobs/succeeded", "/jobs/succeeded?queue=mail", "/jobs/succeeded?task=bulk-3&queue=mail",
	"/jobs/failed", "/jobs/failed?task=bulk-2",
	"/jobs/deleted", "/jobs/deleted?queue=default",
	"/jobs/processing", "/jobs/awaiting", "/retries", "/batches",
}

// renderCost renders path b.N times and reports the median time and the
// CPU time per page, of this process and of the server (serverCPU, when
// not nil).
func renderCost(b *testing.B, h http.Handler, path string, serverCPU func() time.Duration) {
	var times []time.Duration
	cpu0, server0 := selfCPU(b), time.Duration(0)
	if serverCPU != nil {
		server0 = serverCPU()
	}
	for b.Loop() {
		t0 := time.Now()
		serve(b, h, path)
		times = append(times, time.Since(t0))
	}
	perPage := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(len(times)) }
	b.ReportMetric(perPage(selfCPU(b)-cpu0), "cpu-ms/op")
	if serverCPU != nil {
		b.ReportMetric(perPage(serverCPU()-server0), "server-cpu-ms/op")
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2])/float64(time.Millisecond), "median-ms")
}

// selfCPU returns the CPU time this process has used.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
