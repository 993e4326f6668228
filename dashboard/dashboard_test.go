package dashboard_test

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
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

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestPages(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			f := newFixture(t, s.new(t))
			base, c := mount(t, newHandler(t, f.client, dashboard.Options{}))
			id := func(role string) string { return f.jobs[role].String() }
			tests := []struct {
				name, path string
				status     int
				want       []string
				notWant    []string
			}{
				{"overview", "/", 200, []string{`id="count-failed"`, `href="/dash/jobs/failed"`, `id="live"`, `data-url="/dash/api/live"`,
					"Last 24 hours", "Last 7 days", "paused-queue", `<script src="/dash/static/dashboard.js?v=`,
					`<link rel="icon" type="image/svg+xml" href="/dash/static/favicon.svg?v=`}, nil},
				{"enqueued jobs", "/jobs/enqueued", 200, []string{id("enqueued"), id("xss"), "Delete selected", `id="total">4 job(s)`},
					[]string{id("failed"), "Requeue selected"}},
				{"enqueued jobs of a queue", "/jobs/enqueued?queue=mail", 200, []string{id("enqueued")}, []string{id("xss")}},
				{"filter by task", "/jobs/failed?task=dash-echo", 200, []string{id("failed"), "disk full"}, nil},
				{"filter matching nothing", "/jobs/failed?task=other", 200, []string{"match the filters"}, []string{id("failed")}},
				{"a page of two", "/jobs/enqueued?size=2", 200, []string{`id="page-next"`, `id="page-last"`, id("enqueued")}, []string{`id="page-prev"`}},
				{"the last page", "/jobs/enqueued?size=2&last=1", 200, []string{`id="page-prev"`, `id="page-first"`}, []string{`id="page-next"`, id("enqueued")}},
				{"scheduled jobs with due time", "/jobs/scheduled", 200, []string{id("scheduled"), "<th>Due</th>", "data-relative>in "}, nil},
				{"processing jobs with worker and progress", "/jobs/processing", 200, []string{id("processing"), "on worker-1", `<progress max="100" value="50">`}, nil},
				{"succeeded jobs", "/jobs/succeeded", 200, []string{id("succeeded")}, nil},
				{"unknown state", "/jobs/lost", 400, []string{"unknown state"}, nil},
				{"bad page size", "/jobs/failed?size=0", 400, []string{"want a number from 1 to 1000"}, nil},
				{"bad cursor", "/jobs/failed?after=nonsense", 400, []string{"bad list cursor"}, nil},
				{"cursor both ways", "/jobs/failed?after=a&before=b", 400, []string{"one place"}, nil},
				{"failed row: the error's type and first line", "/jobs/failed", 200, []string{`<span class="etype"><bdi>*errors.errorString</bdi></span> <bdi>disk full</bdi>`}, nil},
				{"retries: none yet", "/retries", 200, []string{"No retries."}, []string{id("scheduled")}},
				{"raw arguments", "/job/" + id("xss") + "/raw/args", 200, []string{"window.pwned = true"}, nil},
				{"raw result", "/job/" + id("succeeded") + "/raw/result", 200, []string{`{"ok":true}`}, nil},
				{"raw error", "/job/" + id("failed") + "/raw/error", 200, []string{"disk full", "goroutine 7"}, nil},
				{"no result to show raw", "/job/" + id("failed") + "/raw/result", 404, nil, nil},
				{"unknown raw part", "/job/" + id("failed") + "/raw/secrets", 404, nil, nil},
				{"parent link to a batch", "/parent/" + f.batch.String(), 303, nil, nil},
				{"favicon", "/static/favicon.svg", 200, []string{"<svg"}, nil},
				{"queues with their running jobs", "/queues", 200, []string{`/jobs/processing?queue=default">1</a>`}, nil},
				{"graphs with axes", "/", 200, []string{`class="y-axis"`, `class="x-axis"`}, nil},
				{"a batch's jobs, paged", "/batches/" + f.batch.String() + "?size=1", 200, []string{`id="page-next"`, `id="page-last"`}, nil},
				{"a batch's last page", "/batches/" + f.batch.String() + "?size=1&last=1", 200, []string{`id="page-prev"`}, []string{`id="page-next"`}},
				{"failed job", "/job/" + id("failed"), 200, []string{"dash-echo", "disk full", "goroutine 7 [running]", `id="requeue"`, "History", "in this state"}, nil},
				{"succeeded job with result", "/job/" + id("succeeded"), 200, []string{`&#34;ok&#34;: true`, "Result"}, nil},
				{"processing job with logs and progress", "/job/" + id("processing"), 200, []string{"halfway &lt;b&gt;there&lt;/b&gt;", "importing", "so far"}, nil},
				{"job with a continuation", "/job/" + id("enqueued"), 200, []string{"Continuations", id("continuation")}, nil},
				{"continuation of a job", "/job/" + id("continuation"), 200, []string{`href="/dash/job/` + id("enqueued") + `" id="parent"`}, nil},
				{"continuation of a batch", "/job/" + id("batch-continuation"), 200, []string{`href="/dash/batches/` + f.batch.String() + `" id="parent"`}, nil},
				{"awaiting jobs with parent", "/jobs/awaiting", 200, []string{id("continuation"), "parent <a"}, nil},
				{"job of a batch", "/job/" + id("batch"), 200, []string{`href="/dash/batches/` + f.batch.String()}, nil},
				{"job args escaped", "/job/" + id("xss"), 200, []string{"&lt;script&gt;window.pwned = true&lt;/script&gt;"}, []string{xssText}},
				{"unknown job", "/job/" + uuid.NewString(), 404, []string{"not found"}, nil},
				{"bad job id", "/job/nope", 400, []string{"not a UUID"}, nil},
				{"find by id", "/job?id=" + id("failed"), 303, nil, nil},
				{"find a bad id", "/job?id=%3Cb%3E", 400, []string{"&lt;b&gt;"}, nil},
				{"recurring jobs", "/recurring", 200, []string{"nightly", "0 2 * * *", "every day at 02:00", "Europe/Paris", "Trigger now"}, nil},
				{"batches", "/batches", 200, []string{"Batch id", `href="/dash/batches/` + f.batch.String() + `"`, "0 of 2"}, nil},
				{"batches, after the batch", "/batches?after=" + f.batch.String(), 200, []string{"No batches.", `id="page-first"`}, []string{`id="page-next"`, `id="page-last"`}},
				{"batches, before the batch", "/batches?before=" + f.batch.String(), 200, []string{"No batches."}, []string{`id="page-first"`}},
				{"batches, the last page", "/batches?last=1", 200, []string{`href="/dash/batches/` + f.batch.String() + `"`}, []string{`id="page-next"`, `id="page-last"`}},
				{"batches, a bad cursor", "/batches?after=nope", 400, []string{"not a batch id"}, nil},
				{"batch", "/batches/" + f.batch.String(), 200, []string{"0 of 2 finished", id("batch"), "Cancel the batch", id("batch-continuation")}, nil},
				{"batch by form", "/batches?id=" + f.batch.String(), 200, []string{"0 of 2 finished"}, nil},
				{"unknown batch", "/batches/" + uuid.NewString(), 404, nil, nil},
				{"queues", "/queues", 200, []string{"mail", "paused-queue", "paused", `formaction="/dash/queues/resume"`}, nil},
				{"workers", "/workers", 200, []string{"worker-1", "host-a", "default", "any (not advertised)"}, nil},
				{"a queue no worker serves, flagged", "/queues", 200, []string{`mail</a> <span class="badge warn"`}, []string{`default</a> <span class="badge warn"`}},
				{"the overview warns of it", "/", 200, []string{`id="unserved"`, `class="unserved-queue"><bdi>mail</bdi>`}, []string{`class="unserved-task"`}},
				{"a job no worker can run", "/job/" + id("enqueued"), 200, []string{`id="no-worker"`, "No live worker serves the queue &#34;mail&#34;"}, nil},
				{"a job a worker can run", "/job/" + id("xss"), 200, nil, []string{`id="no-worker"`}},
				{"limits", "/limits", 200, []string{"No limit declared."}, nil},
				{"live counts", "/api/live", 200, []string{`"succeeded":1`, `"failed":1`, `"jobs":{`, `"processing":1`}, nil},
				{"live counts since", "/api/live?since=" + url.QueryEscape("1"), 200, []string{`"since"`}, nil},
				{"live counts, bad since", "/api/live?since=x", 400, nil, nil},
				{"script", "/static/dashboard.js", 200, []string{"fetch("}, nil},
				{"style sheet", "/static/dashboard.css", 200, []string{".tiles"}, nil},
				{"unknown page", "/nope", 404, nil, nil},
				{"no listing of the assets", "/static/", 404, nil, []string{"dashboard.js"}},
			}
			_, listsBatches := f.store.(storage.BatchLister)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if _, ok := f.store.(storage.FlowControl); !ok && tt.path == "/limits" {
						tt.want = []string{"This store has no flow control"}
					}
					if u, _ := url.Parse(tt.path); u.Path == "/batches" && !u.Query().Has("id") && tt.status == 200 {
						if !listsBatches { // the page says why it lists none
							tt.want, tt.notWant = []string{"implements no storage.BatchLister"}, nil
						}
					}
					resp, body := get(t, c, base+tt.path)
					require.Equal(t, tt.status, resp.StatusCode, body)
					require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
					for _, w := range tt.want {
						require.Contains(t, body, w)
					}
					for _, w := range tt.notWant {
						require.NotContains(t, body, w)
					}
				})
			}
		})
	}
}

var batchRE = regexp.MustCompile(`<a class="mono" href="/dash/batches/([0-9a-f-]+)">`)

// TestBatchesKeyset walks the batches a batch a page, by the links, from
// the first page to the last and from the last to the first.
func TestBatchesKeyset(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			c, err := taskflow.NewClient(s.new(t), taskflow.ClientOptions{})
			require.NoError(t, err)
			var newest []string
			for range 3 {
				b, err := Echo.On(c).EnqueueBatch(context.Background(), []Note{{Text: "b"}})
				require.NoError(t, err)
				newest = append([]string{b.ID.String()}, newest...)
			}
			base, hc := mount(t, newHandler(t, c, dashboard.Options{}))
			walk := func(path, next string) (seen []string) {
				for path != "" {
					resp, body := get(t, hc, base+path)
					require.Equal(t, http.StatusOK, resp.StatusCode, body)
					for _, m := range batchRE.FindAllStringSubmatch(body, -1) {
						seen = append(seen, m[1])
					}
					path = strings.TrimPrefix(links(body)[next], "/dash")
					require.LessOrEqual(t, len(seen), len(newest), "the walk goes round")
				}
				return seen
			}
			require.Equal(t, newest, walk("/batches?size=1", "next"))
			oldest := walk("/batches?size=1&last=1", "prev")
			slices.Reverse(oldest)
			require.Equal(t, newest, oldest)
			_, body := get(t, hc, base+"/batches?size=1&after="+newest[0])
			require.Contains(t, body, "‹ Newer")
			require.Contains(t, body, "Older ›")
		})
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// token reads a page, which sets the CSRF cookie, and returns the token
// of its forms.
func token(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	_, body := get(t, c, base+"/jobs/failed")
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m, "no CSRF token in the page")
	return m[1]
}

func TestActions(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			f := newFixture(t, s.new(t))
			ctx := context.Background()
			base, c := mount(t, newHandler(t, f.client, dashboard.Options{}))
			stateOf := func(role string) states.Name {
				j, err := f.client.Job(ctx, f.jobs[role])
				require.NoError(t, err)
				return j.State.Name()
			}
			tests := []struct {
				name, path string
				form       url.Values
				flash      string
				check      func(t *testing.T)
			}{
				{"requeue a job", "/jobs/requeue", url.Values{"id": {f.jobs["failed"].String()}, "from": {"failed"}}, "Requeued 1 of 1 job(s).",
					func(t *testing.T) { require.Equal(t, states.NameEnqueued, stateOf("failed")) }},
				{"delete a selection", "/jobs/delete", url.Values{"id": {f.jobs["enqueued"].String()}, "page_id": {f.jobs["xss"].String()}, "from": {"enqueued"}},
					"Deleted 1 of 1 job(s).", func(t *testing.T) {
						require.Equal(t, states.NameDeleted, stateOf("enqueued"))
						require.Equal(t, states.NameEnqueued, stateOf("xss"))
					}},
				{"requeue a whole page, one job of which moved on", "/jobs/requeue",
					url.Values{"scope": {"page"}, "page_id": {f.jobs["succeeded"].String(), f.jobs["enqueued"].String()}, "from": {"succeeded"}},
					"Requeued 1 of 2 job(s). 1 job(s) had moved on from succeeded", func(t *testing.T) {
						require.Equal(t, states.NameEnqueued, stateOf("succeeded"))
						require.Equal(t, states.NameDeleted, stateOf("enqueued"), "the job that moved on stays as it is")
					}},
				{"delete from a stale page", "/jobs/delete", url.Values{"id": {f.jobs["scheduled"].String()}, "from": {"failed"}, "back": {"/jobs/failed"}},
					"Deleted 0 of 1 job(s). 1 job(s) had moved on from failed", func(t *testing.T) { require.Equal(t, states.NameScheduled, stateOf("scheduled")) }},
				{"requeue an enqueued job", "/jobs/requeue", url.Values{"id": {f.jobs["xss"].String()}, "from": {"enqueued"}}, "enqueued jobs cannot be requeued", nil},
				{"requeue a processing job", "/jobs/requeue", url.Values{"id": {f.jobs["processing"].String()}, "from": {"processing"}}, "processing jobs cannot be requeued",
					func(t *testing.T) { require.Equal(t, states.NameProcessing, stateOf("processing")) }},
				{"a form without its state", "/jobs/delete", url.Values{"id": {f.jobs["xss"].String()}}, "does not say which state", func(t *testing.T) {
					require.Equal(t, states.NameEnqueued, stateOf("xss"))
				}},
				{"requeue all scheduled, as a plain form", "/jobs/requeue/all", url.Values{"from": {"scheduled"}}, "Requeued 1 of 1 job(s).",
					func(t *testing.T) { require.Equal(t, states.NameEnqueued, stateOf("scheduled")) }},
				{"requeue all enqueued is refused", "/jobs/requeue/all", url.Values{"from": {"enqueued"}}, "enqueued jobs cannot be requeued.", nil},
				{"delete all of a queue", "/jobs/delete/all", url.Values{"from": {"enqueued"}, "queue": {"nothing-here"}}, "No enqueued jobs left to delete.", nil},
				{"back climbs out of the prefix", "/jobs/delete", url.Values{"from": {"failed"}, "back": {"/../../jobs/failed?task=x"}}, "no job selected", nil},
				{"no job selected", "/jobs/requeue", url.Values{"from": {"failed"}}, "no job selected", nil},
				{"unknown job action", "/jobs/explode", url.Values{"id": {f.jobs["xss"].String()}, "from": {"enqueued"}}, "unknown job action", nil},
				{"trigger a recurring job", "/recurring/trigger", url.Values{"id": {"nightly"}}, `Triggered recurring job "nightly"`, func(t *testing.T) {
					r, err := f.client.RecurringJob(ctx, "nightly")
					require.NoError(t, err)
					require.WithinDuration(t, time.Now(), r.LastRun, time.Minute, "the trigger is the last run")
					_, err = f.client.Job(ctx, r.LastJobID)
					require.NoError(t, err, "and its job the last job")
					require.True(t, r.NextRun.After(time.Now()), "the schedule is kept")
				}},
				{"pause a recurring job", "/recurring/pause", url.Values{"id": {"nightly"}}, `Paused recurring job "nightly".`, func(t *testing.T) {
					r, err := f.client.RecurringJob(ctx, "nightly")
					require.NoError(t, err)
					require.True(t, r.Paused)
				}},
				{"resume a recurring job", "/recurring/resume", url.Values{"id": {"nightly"}}, `Resumed recurring job "nightly".`, func(t *testing.T) {
					r, err := f.client.RecurringJob(ctx, "nightly")
					require.NoError(t, err)
					require.False(t, r.Paused)
				}},
				{"remove a recurring job", "/recurring/remove", url.Values{"id": {"nightly"}}, `Removed recurring job "nightly".`, func(t *testing.T) {
					_, err := f.client.RecurringJob(ctx, "nightly")
					require.ErrorIs(t, err, taskflow.ErrNotFound)
				}},
				{"pause a queue", "/queues/pause", url.Values{"queue": {"mail"}}, `Paused queue "mail".`, func(t *testing.T) { require.True(t, paused(t, f.client, "mail")) }},
				{"resume a queue", "/queues/resume", url.Values{"queue": {"mail"}}, `Resumed queue "mail".`, func(t *testing.T) { require.False(t, paused(t, f.client, "mail")) }},
				{"pause a bad queue name", "/queues/pause", url.Values{"queue": {"Bad Name"}}, "invalid queue name", nil},
				{"cancel a batch", "/batches/cancel", url.Values{"id": {f.batch.String()}}, "deleted 2 unfinished job(s)", func(t *testing.T) {
					p, err := f.client.BatchProgress(ctx, f.batch)
					require.NoError(t, err)
					require.Equal(t, 2, p.Deleted)
				}},
			}
			tok := token(t, c, base)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					form := url.Values{"csrf": {tok}}
					for k, v := range tt.form {
						form[k] = v
					}
					resp, err := c.PostForm(base+tt.path, form)
					require.NoError(t, err)
					resp.Body.Close()
					require.Equal(t, http.StatusSeeOther, resp.StatusCode)
					back := "/dash" + form.Get("back")
					switch form.Get("back") {
					case "":
						back = "/dash/"
					case "/../../jobs/failed?task=x":
						back = "/dash/jobs/failed?task=x" // cleaned: under the prefix
					}
					require.Equal(t, back, resp.Header.Get("Location"))
					_, body := get(t, c, base+strings.TrimPrefix(back, "/dash"))
					require.Contains(t, body, `id="flash"`)
					require.Contains(t, body, htmlEscape(tt.flash))
					_, body = get(t, c, base+strings.TrimPrefix(back, "/dash"))
					require.NotContains(t, body, `id="flash"`, "a result is shown once")
					if tt.check != nil {
						tt.check(t)
					}
				})
			}
		})
	}
}

func htmlEscape(s string) string { return strings.ReplaceAll(s, `"`, "&#34;") }

func paused(t *testing.T, c *taskflow.Client, queue string) bool {
	t.Helper()
	qs, err := c.Queues(context.Background())
	require.NoError(t, err)
	for _, q := range qs {
		if q.Name == queue {
			return q.Paused
		}
	}
	return false
}

// TestRefused checks that every request the dashboard must refuse is
// refused with 403, and changes nothing.
func TestRefused(t *testing.T) {
	f := newFixture(t, stores[0].new(t))
	failed := f.jobs["failed"].String()
	tests := []struct {
		name   string
		opts   dashboard.Options
		remote string
		host   string // default: localhost:8080
		// csrf: "valid", "wrong" or "" (none); cookie: whether the CSRF
		// cookie is sent.
		csrf    string
		cookie  bool
		headers map[string]string
		method  string
		status  int
	}{
		{"remote request by default", dashboard.Options{}, "203.0.113.7:5000", "", "valid", true, nil, http.MethodGet, 403},
		{"remote POST by default", dashboard.Options{}, "203.0.113.7:5000", "", "valid", true, nil, http.MethodPost, 403},
		{"IPv6 loopback", dashboard.Options{}, "[::1]:5000", "[::1]:8080", "", false, nil, http.MethodGet, 200},
		{"loopback IP as host", dashboard.Options{}, "127.0.0.1:5000", "127.0.0.1:8080", "", false, nil, http.MethodGet, 200},
		{"local request naming another host (DNS rebinding)", dashboard.Options{}, "127.0.0.1:5000", "evil.example:8080", "", false, nil, http.MethodGet, 403},
		{"forwarded by a proxy on this host", dashboard.Options{}, "127.0.0.1:5000", "127.0.0.1:8080", "", false,
			map[string]string{"X-Forwarded-For": "203.0.113.7"}, http.MethodGet, 403},
		{"another host, authorized", dashboard.Options{Authorize: func(*http.Request) bool { return true }}, "127.0.0.1:5000", "jobs.example", "", false, nil, http.MethodGet, 200},
		{"remote request authorized", dashboard.Options{Authorize: func(r *http.Request) bool { return r.Header.Get("X-User") == "ada" }},
			"203.0.113.7:5000", "", "", false, map[string]string{"X-User": "ada"}, http.MethodGet, 200},
		{"local request not authorized", dashboard.Options{Authorize: func(*http.Request) bool { return false }},
			"127.0.0.1:5000", "", "valid", true, nil, http.MethodGet, 403},
		{"POST without a token", dashboard.Options{}, "127.0.0.1:5000", "", "", true, nil, http.MethodPost, 403},
		{"POST with a wrong token", dashboard.Options{}, "127.0.0.1:5000", "", "wrong", true, nil, http.MethodPost, 403},
		{"POST without the cookie", dashboard.Options{}, "127.0.0.1:5000", "", "valid", false, nil, http.MethodPost, 403},
		{"cross-site POST", dashboard.Options{}, "127.0.0.1:5000", "", "valid", true, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.MethodPost, 403},
		{"POST when read-only", dashboard.Options{ReadOnly: true}, "127.0.0.1:5000", "", "valid", true, nil, http.MethodPost, 403},
		{"valid POST", dashboard.Options{}, "127.0.0.1:5000", "", "valid", true, nil, http.MethodPost, 303},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, f.client, tt.opts)
			// A GET from the local machine gives the cookie and the token.
			rec := httptest.NewRecorder()
			page := httptest.NewRequest(http.MethodGet, "/jobs/failed", nil)
			page.RemoteAddr, page.Host = "127.0.0.1:5000", "localhost:8080"
			h.ServeHTTP(rec, page)
			cookies := rec.Result().Cookies()
			tok := ""
			if m := csrfRE.FindStringSubmatch(rec.Body.String()); m != nil {
				tok = m[1]
			}
			form := url.Values{"id": {failed}, "from": {"failed"}}
			switch tt.csrf {
			case "valid":
				form.Set("csrf", tok)
			case "wrong":
				form.Set("csrf", strings.Repeat("0", 64))
			}
			req := httptest.NewRequest(http.MethodGet, "/jobs/failed", nil)
			if tt.method == http.MethodPost {
				req = httptest.NewRequest(http.MethodPost, "/jobs/requeue", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req.RemoteAddr, req.Host = tt.remote, cmp.Or(tt.host, "localhost:8080")
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if tt.cookie {
				for _, ck := range cookies {
					req.AddCookie(ck)
				}
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			j, err := f.client.Job(context.Background(), f.jobs["failed"])
			require.NoError(t, err)
			require.Equal(t, tt.status == 303, j.State.Name() == states.NameEnqueued, "the job was requeued")
			if tt.status == 303 { // back to Failed for the next case
				require.NoError(t, f.client.ChangeState(context.Background(), f.jobs["failed"], states.Failed{FailedAt: time.Now(), ErrorMessage: "disk full"}))
			}
		})
	}
}

func TestReadOnlyHidesActions(t *testing.T) {
	f := newFixture(t, stores[0].new(t))
	base, c := mount(t, newHandler(t, f.client, dashboard.Options{ReadOnly: true, HideArgs: true}))
	for _, path := range []string{"/jobs/failed", "/job/" + f.jobs["failed"].String(), "/recurring", "/queues", "/batches/" + f.batch.String()} {
		resp, body := get(t, c, base+path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.NotContains(t, body, `method="post"`, path)
		require.NotContains(t, body, `name="csrf"`, path)
	}
	_, body := get(t, c, base+"/job/"+f.jobs["failed"].String())
	require.Contains(t, body, `id="show-args"`, "HideArgs puts the arguments behind a click")
}

func TestOpenRedirectRefused(t *testing.T) {
	f := newFixture(t, stores[0].new(t))
	base, c := mount(t, newHandler(t, f.client, dashboard.Options{}))
	tok := token(t, c, base)
	for _, back := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "jobs", "/\t/evil.example/", "/\x7f"} {
		resp, err := c.PostForm(base+"/queues/pause", url.Values{"csrf": {tok}, "queue": {"mail"}, "back": {back}})
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "/dash/", resp.Header.Get("Location"), "back %q", back)
	}
}

func TestLiveCountsGrow(t *testing.T) {
	f := newFixture(t, stores[0].new(t))
	base, c := mount(t, newHandler(t, f.client, dashboard.Options{}))
	read := func(since int64) (n struct{ Since, Succeeded, Failed int64 }) {
		_, body := get(t, c, base+"/api/live?since="+strconv.FormatInt(since, 10))
		require.NoError(t, json.Unmarshal([]byte(body), &n))
		return n
	}
	first := read(time.Now().Unix())
	require.NoError(t, f.client.ChangeState(context.Background(), f.jobs["xss"], states.Succeeded{SucceededAt: time.Now()}))
	second := read(first.Since)
	require.Equal(t, first.Since, second.Since)
	require.Equal(t, first.Succeeded+1, second.Succeeded)
}

func TestNewRejectsBadOptions(t *testing.T) {
	c, err := taskflow.NewClient(stores[0].new(t), taskflow.ClientOptions{})
	require.NoError(t, err)
	for name, tt := range map[string]struct {
		client *taskflow.Client
		opts   dashboard.Options
		want   string
	}{
		"nil client":             {nil, dashboard.Options{}, "nil client"},
		"negative page size":     {c, dashboard.Options{PageSize: -1}, "PageSize"},
		"negative poll interval": {c, dashboard.Options{PollInterval: -time.Second}, "PollInterval"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := dashboard.New(tt.client, tt.opts)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// bareStore hides every optional capability of the store it wraps.
type bareStore struct{ storage.Store }

func TestStoreWithoutCapabilities(t *testing.T) {
	c, err := taskflow.NewClient(bareStore{memstore.New()}, taskflow.ClientOptions{})
	require.NoError(t, err)
	base, hc := mount(t, newHandler(t, c, dashboard.Options{}))
	for path, want := range map[string]string{
		"/":                        "storage.Lister",
		"/jobs/failed":             "storage.Lister",
		"/recurring":               "storage.Recurring",
		"/queues":                  "storage.Queues",
		"/workers":                 "storage.Workers",
		"/batches":                 "storage.BatchLister",
		"/job/" + uuid.NewString(): "not found",
	} {
		resp, body := get(t, hc, base+path)
		require.Contains(t, body, want, path)
		if want != "not found" && path != "/batches" {
			require.Equal(t, http.StatusNotImplemented, resp.StatusCode, path)
		}
	}
}

// TestPagesOnABareStore: a job's page and the workers page show what the
// store has; what it lacks is left out, not an error.
func TestPagesOnABareStore(t *testing.T) {
	c, err := taskflow.NewClient(bareStore{memstore.New()}, taskflow.ClientOptions{})
	require.NoError(t, err)
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "bare", func(context.Context, int) (int, error) { return 0, nil })
	require.NoError(t, err)
	h, err := task.On(c).Enqueue(context.Background(), 7)
	require.NoError(t, err)
	base, hc := mount(t, newHandler(t, c, dashboard.Options{}))
	resp, body := get(t, hc, base+"/job/"+h.ID.String())
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "bare")
	resp, body = get(t, hc, base+"/workers")
	require.Equal(t, http.StatusNotImplemented, resp.StatusCode, "no worker registry: %s", body)
}
