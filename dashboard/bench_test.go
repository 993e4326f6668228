package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
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
	ctx := context.Background()
	_, err := pool.Exec(ctx, fmt.Sprintf(fillSQL, pgx.Identifier{schema}.Sanitize()), 1_000_000)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, "ANALYZE "+pgx.Identifier{schema}.Sanitize()+".jobs")
	require.NoError(b, err)
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
		{"succeeded page 50", "/jobs/succeeded?page=50"},
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
		{"live", "/api/live"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "http://localhost"+p.path, nil)
				req.RemoteAddr = "127.0.0.1:5000"
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, rec.Code, rec.Body)
				}
			}
		})
	}
}
