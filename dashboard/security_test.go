package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// TestHiddenArgsNeverInHTML: with HideArgs, no page carries a job's
// arguments or result, not even folded away; the raw endpoint, behind
// the same access check, gives them on demand.
func TestHiddenArgsNeverInHTML(t *testing.T) {
	const secret, answer = "hunter2-secret-token", "result-secret-value"
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			f := newFixture(t, s.new(t))
			ctx := context.Background()
			h, err := Echo.On(f.client).Enqueue(ctx, Note{Text: secret})
			require.NoError(t, err)
			require.NoError(t, f.client.ChangeState(ctx, h.ID, states.Succeeded{SucceededAt: time.Now(), Result: []byte(`"` + answer + `"`)}))
			base, c := mount(t, newHandler(t, f.client, dashboard.Options{HideArgs: true}))
			for _, path := range []string{"/job/" + h.ID.String(), "/jobs/succeeded", "/"} {
				resp, body := get(t, c, base+path)
				require.Equal(t, http.StatusOK, resp.StatusCode, path)
				require.NotContains(t, body, secret, path)
				require.NotContains(t, body, answer, path)
			}
			_, body := get(t, c, base+"/job/"+h.ID.String())
			require.Contains(t, body, `href="/dash/job/`+h.ID.String()+`/raw/args" id="show-args"`)
			_, raw := get(t, c, base+"/job/"+h.ID.String()+"/raw/args")
			require.Contains(t, raw, secret, "shown on demand")

			denied := newHandler(t, f.client, dashboard.Options{HideArgs: true, Authorize: func(*http.Request) bool { return false }})
			rec := httptest.NewRecorder()
			denied.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/job/"+h.ID.String()+"/raw/args", nil))
			require.Equal(t, http.StatusForbidden, rec.Code)
			require.NotContains(t, rec.Body.String(), secret)
		})
	}
}

// TestBoundedPages: a job whose values are huge gives a small page, with
// a link to each value whole, served under its own limit.
func TestBoundedPages(t *testing.T) {
	f := newFixture(t, memstore.New())
	ctx := context.Background()
	big := strings.Repeat("x", 5<<20)
	h, err := Echo.On(f.client).Enqueue(ctx, Note{Text: big})
	require.NoError(t, err)
	long := strings.Repeat("line of a long error\n", 2000)
	require.NoError(t, f.client.ChangeState(ctx, h.ID, states.Failed{FailedAt: time.Now(), ErrorType: "*app.Error", ErrorMessage: long,
		ErrorDetails: strings.Repeat("stack\n", 100_000)}))
	base, c := mount(t, newHandler(t, f.client, dashboard.Options{}))
	for _, tt := range []struct {
		path string
		max  int
		want []string
	}{
		{"/job/" + h.ID.String(), 400 << 10, []string{`id="raw-args"`, "more bytes", "/raw/error"}},
		{"/jobs/failed", 64 << 10, []string{"line of a long error …", "*app.Error"}},
	} {
		resp, body := get(t, c, base+tt.path)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Less(t, len(body), tt.max, "%s: the page is bounded", tt.path)
		for _, w := range tt.want {
			require.Contains(t, body, w, tt.path)
		}
	}
	resp, raw := get(t, c, base+"/job/"+h.ID.String()+"/raw/args")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, raw, big, "the whole value")

	// A job that went through many states and logged much.
	busy, err := Echo.On(f.client).Enqueue(ctx, Note{Text: "busy"})
	require.NoError(t, err)
	for i := range 150 {
		require.NoError(t, f.client.ChangeState(ctx, busy.ID, states.Failed{FailedAt: time.Now(), ErrorMessage: strings.Repeat("e", 20<<10)}))
		require.NoError(t, f.client.ChangeState(ctx, busy.ID, states.Enqueued{Queue: "default", EnqueuedAt: time.Now(), Reason: fmt.Sprint("retry ", i)}))
	}
	var logs []storage.LogRecord
	for i := range 3000 {
		logs = append(logs, storage.LogRecord{JobID: busy.ID, Attempt: 1, At: time.Now(), Level: "INFO", Message: fmt.Sprint("step ", i, strings.Repeat(".", 1000))})
	}
	require.NoError(t, f.store.(storage.JobLogs).AppendLogs(ctx, logs))
	resp, body := get(t, c, base+"/job/"+busy.ID.String())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Less(t, len(body), 2<<20, "a long history and many logs make a bounded page")
	require.Contains(t, body, `id="history-left-out">201 earlier state(s)`)
	require.Contains(t, body, `id="logs-left-out">The latest 500 records; 2,500 earlier`)

	huge, err := Echo.On(f.client).Enqueue(ctx, Note{Text: strings.Repeat("y", 17<<20)})
	require.NoError(t, err)
	resp, body = get(t, c, base+"/job/"+huge.ID.String()+"/raw/args")
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Less(t, len(body), 1<<10)
}

// failingStore answers every read with an error that names the database,
// as a driver's error does.
type failingStore struct {
	*memstore.Store
}

var errDatabase = errors.New("failed to connect to `user=taskflow_admin database=jobs_prod host=db-7.internal port=5432`")

func (failingStore) Get(context.Context, uuid.UUID) (*storage.Job, error)  { return nil, errDatabase }
func (failingStore) Peek(context.Context, uuid.UUID) (*storage.Job, error) { return nil, errDatabase }
func (failingStore) List(context.Context, *storage.ListParams) ([]*storage.Job, error) {
	return nil, errDatabase
}
func (failingStore) Count(context.Context, string) (map[states.Name]int64, error) {
	return nil, errDatabase
}

// syncBuffer is a log's destination that tests read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStoreErrorsStayInTheLog: a failing store gives a generic page; the
// database's name, user and host go to the server's log only.
func TestStoreErrorsStayInTheLog(t *testing.T) {
	c, err := taskflow.NewClient(failingStore{memstore.New()}, taskflow.ClientOptions{})
	require.NoError(t, err)
	require.NoError(t, Echo.On(c).AddRecurring(context.Background(), "nightly", "0 2 * * *", Note{})) // the recurring page, which still works, has forms
	var log syncBuffer
	base, hc := mount(t, newHandler(t, c, dashboard.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}))
	for _, path := range []string{"/", "/jobs/failed", "/job/" + uuid.NewString(), "/job/" + uuid.NewString() + "/raw/args", "/api/live", "/retries"} {
		resp, body := get(t, hc, base+path)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, path)
		for _, leak := range []string{"taskflow_admin", "jobs_prod", "db-7.internal", "5432"} {
			require.NotContains(t, body, leak, path)
		}
		require.Contains(t, body, "The detail is in the server", path)
	}
	require.Contains(t, log.String(), "db-7.internal", "the detail is logged")

	tok := token503(t, hc, base)
	resp, err := hc.PostForm(base+"/jobs/delete", url.Values{"csrf": {tok}, "from": {"failed"}, "id": {uuid.NewString()}, "back": {"/recurring"}})
	require.NoError(t, err)
	resp.Body.Close()
	_, body := get(t, hc, base+"/recurring")
	require.Contains(t, body, "server&#39;s log")
	require.NotContains(t, body, "db-7.internal", "an action's flash hides it too")
}

// token503 reads the CSRF token of the recurring page, which the failing
// store still serves.
func token503(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	_, body := get(t, c, base+"/recurring")
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m, "no CSRF token in the page")
	return m[1]
}

// TestCSRFKeySharedByReplicas: two handlers given one key (two replicas,
// or a restart) accept each other's tokens; without it they do not.
func TestCSRFKeySharedByReplicas(t *testing.T) {
	f := newFixture(t, memstore.New())
	key := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name       string
		a, b       dashboard.Options
		wantStatus int
	}{
		{"one key", dashboard.Options{CSRFKey: key}, dashboard.Options{CSRFKey: key}, http.StatusSeeOther},
		{"one key function", dashboard.Options{CSRFKeyFunc: func() []byte { return key }}, dashboard.Options{CSRFKey: key}, http.StatusSeeOther},
		{"random keys", dashboard.Options{}, dashboard.Options{}, http.StatusForbidden},
		{"other keys", dashboard.Options{CSRFKey: key}, dashboard.Options{CSRFKey: bytes.Repeat([]byte{8}, 32)}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newHandler(t, f.client, tt.a), newHandler(t, f.client, tt.b)
			rec := httptest.NewRecorder()
			page := httptest.NewRequest(http.MethodGet, "/queues", nil)
			page.RemoteAddr, page.Host = "127.0.0.1:5000", "localhost:8080"
			a.ServeHTTP(rec, page)
			m := csrfRE.FindStringSubmatch(rec.Body.String())
			require.NotNil(t, m)
			form := url.Values{"csrf": {m[1]}, "queue": {"mail"}}
			req := httptest.NewRequest(http.MethodPost, "/queues/pause", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr, req.Host = "127.0.0.1:5000", "localhost:8080"
			for _, ck := range rec.Result().Cookies() {
				req.AddCookie(ck)
			}
			rec = httptest.NewRecorder()
			b.ServeHTTP(rec, req)
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
		})
	}
	_, err := dashboard.New(f.client, dashboard.Options{CSRFKey: []byte("short")})
	require.ErrorContains(t, err, "CSRFKey")
}

// TestUserTextIsolated: text from jobs is isolated, so that a
// right-to-left override in it cannot reverse the rest of the page.
func TestUserTextIsolated(t *testing.T) {
	f := newFixture(t, memstore.New())
	const rlo = "\u202Egnp.exe"
	require.NoError(t, f.client.ChangeState(context.Background(), f.jobs["failed"], states.Failed{FailedAt: time.Now(), ErrorType: "x" + rlo, ErrorMessage: "bad " + rlo}))
	base, c := mount(t, newHandler(t, f.client, dashboard.Options{}))
	for _, path := range []string{"/jobs/failed", "/job/" + f.jobs["failed"].String()} {
		_, body := get(t, c, base+path)
		require.Contains(t, body, "<bdi>bad "+rlo+"</bdi>", path)
		require.Contains(t, body, "<bdi>x"+rlo+"</bdi>", path)
	}
}

// TestListRowsEscaped: the text that jobs bring into the rows of a list
// (written without html/template, see rows.go) is escaped as the
// templates escape it.
func TestListRowsEscaped(t *testing.T) {
	f := newFixture(t, memstore.New())
	const hostile = `<script>alert("x")</script> & 'y' +1`
	const escaped = `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#39;y&#39; &#43;1`
	ctx := context.Background()
	require.NoError(t, f.client.ChangeState(ctx, f.jobs["failed"], states.Failed{FailedAt: time.Now(), ErrorType: hostile, ErrorMessage: hostile}))
	require.NoError(t, f.store.(storage.JobLogs).SetProgress(ctx, []storage.Progress{{JobID: f.jobs["processing"], Attempt: 1, Percent: 7,
		Message: hostile, At: time.Now()}}))
	base, c := mount(t, newHandler(t, f.client, dashboard.Options{}))
	for _, tt := range []struct{ path, want string }{
		{"/jobs/failed", `<span class="etype"><bdi>` + escaped + `</bdi></span> <bdi>` + escaped + `</bdi>`},
		{"/jobs/processing", `<progress max="100" value="7"></progress> 7% <bdi>` + escaped + `</bdi>`},
		{"/jobs/enqueued", `<a href="/dash/jobs/enqueued?queue=mail"><bdi>mail</bdi></a>`},
		{"/jobs/awaiting", `parent <a class="mono" href="/dash/parent/` + f.jobs["enqueued"].String() + `">`},
		{"/jobs/scheduled", `data-relative>in `},
	} {
		_, body := get(t, c, base+tt.path)
		require.Contains(t, body, tt.want, tt.path)
		require.NotContains(t, body, "<script>alert", tt.path)
	}
}

// TestBulkInChunks: the script's requests for "all N" each change one
// chunk and say whether more remain, until none does.
func TestBulkInChunks(t *testing.T) {
	c, err := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
	require.NoError(t, err)
	failJobs(t, c, 1100, "chunk")
	base, hc := mount(t, newHandler(t, c, dashboard.Options{}))
	tok := token(t, hc, base)
	var done []int
	for range 10 {
		req, err := http.NewRequest(http.MethodPost, base+"/jobs/delete/all", strings.NewReader(url.Values{"csrf": {tok}, "from": {"failed"}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		var r struct {
			OK   bool
			Done int
			More bool
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
		resp.Body.Close()
		require.True(t, r.OK)
		done = append(done, r.Done)
		if !r.More {
			break
		}
	}
	require.Equal(t, []int{500, 500, 100}, done)
	counts, err := c.JobCounts(context.Background())
	require.NoError(t, err)
	require.Zero(t, counts.Jobs[states.NameFailed])
	require.EqualValues(t, 1100, counts.Jobs[states.NameDeleted])
}

// TestRetriesView lists the Scheduled jobs that ran before, not the
// others.
func TestRetriesView(t *testing.T) {
	f := newFixture(t, memstore.New())
	ctx := context.Background()
	h, err := Echo.On(f.client).Enqueue(ctx, Note{Text: "flaky"}, taskflow.Queue("retry-q"))
	require.NoError(t, err)
	jobs, err := f.store.Fetch(ctx, &storage.FetchParams{Queues: []string{"retry-q"}, Limit: 1, Owner: "w", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.NoError(t, f.client.ChangeState(ctx, h.ID, states.Scheduled{EnqueueAt: time.Now().Add(time.Minute), ScheduledAt: time.Now(),
		Reason: "Retry attempt 1 of 10: upstream down"}))
	base, c := mount(t, newHandler(t, f.client, dashboard.Options{}))
	_, body := get(t, c, base+"/retries")
	require.Contains(t, body, h.ID.String())
	require.Contains(t, body, "Retry attempt 1 of 10")
	require.NotContains(t, body, f.jobs["scheduled"].String(), "a delayed job that never ran is no retry")
}
