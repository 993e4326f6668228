package dashboard_test

import (
	"context"
	"flag"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/taskflow"
)

// fillSQL inserts $1 jobs straight into the jobs table, as a large store
// holds them: per thousand, 900 succeeded, 50 deleted, 30 enqueued, 10
// scheduled, 8 failed, 1 awaiting and 1 processing, over three queues and
// five tasks; the first 100,000 in 100 batches.
const fillSQL = `INSERT INTO %[1]s.jobs (id, task, args, queue, state, run_at, created_at, updated_at, enqueued_seq, lease_owner, lease_until, batch_id)
SELECT gen_random_uuid(), 'bulk-' || (i %% 5), '\x7b7d', (ARRAY['default', 'mail', 'reports'])[i %% 3 + 1], st,
	CASE WHEN st = 'scheduled' THEN now() + i * interval '1 second' END, now(), now(),
	CASE WHEN st = 'enqueued' THEN nextval('%[1]s.enqueue_seq') END,
	CASE WHEN st = 'processing' THEN 'bulk-worker' END, CASE WHEN st = 'processing' THEN now() + interval '1 hour' END,
	CASE WHEN i <= 100000 THEN md5('batch' || (i / 1000))::uuid END
FROM generate_series(1, $1) AS i, LATERAL (SELECT CASE
	WHEN i %% 1000 < 900 THEN 'succeeded' WHEN i %% 1000 < 950 THEN 'deleted' WHEN i %% 1000 < 980 THEN 'enqueued'
	WHEN i %% 1000 < 990 THEN 'scheduled' WHEN i %% 1000 < 998 THEN 'failed' WHEN i %% 1000 < 999 THEN 'awaiting'
	ELSE 'processing' END AS st) AS s`

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

// BenchmarkListDepth renders the pages of every list, with each filter
// the pages offer, at the start, deep in and at the end of a PostgreSQL
// store of -dash.jobs jobs (100,000 by default), filled by one INSERT:
// keyset pages cost the same at any depth. The target is a median under
// 200 ms a page on a million jobs:
//
//	go test ./dashboard -run '^$' -bench ListDepth -benchtime 10x -dash.jobs 1000000
func BenchmarkListDepth(b *testing.B) {
	store, pool, schema := pgStore(b)
	fill(b, pool, schema, *benchJobs)
	c, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	require.NoError(b, err)
	h, err := dashboard.New(c, dashboard.Options{})
	require.NoError(b, err)
	lists := []string{
		"/jobs/enqueued", "/jobs/enqueued?queue=mail", "/jobs/enqueued?task=bulk-1",
		"/jobs/scheduled", "/jobs/scheduled?queue=reports",
		"/jobs/succeeded", "/jobs/succeeded?queue=mail", "/jobs/succeeded?task=bulk-3&queue=mail",
		"/jobs/failed", "/jobs/failed?task=bulk-2",
		"/jobs/deleted", "/jobs/deleted?queue=default",
		"/jobs/processing", "/jobs/awaiting", "/retries",
	}
	for _, list := range lists {
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
				b.Run(list+" size "+size+" "+p.name, func(b *testing.B) {
					for b.Loop() {
						serve(b, h, p.path)
					}
				})
			}
		}
	}
}
