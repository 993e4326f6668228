package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/states"
)

// browser starts headless Chromium for the test. Without Chromium the test
// is skipped, or fails when CI=true (CI installs Debian's chromium).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("TASKFLOW_CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path != "" {
			break
		}
		path, _ = exec.LookPath(name)
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is missing: CI must install it (apt-get install chromium)")
		}
		t.Skip("browser tests skipped: Chromium not found (install chromium, or set TASKFLOW_CHROMIUM to its path)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	return ctx
}

// screenshots returns where the browser tests write a screenshot of each
// page: TASKFLOW_SCREENSHOTS (docs/screenshots to refresh the README's
// images), else a temporary directory.
func screenshots(t *testing.T) string {
	dir := os.Getenv("TASKFLOW_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, "text of %s", sel)
	return s
}

// TestBrowser walks the dashboard in headless Chromium: from the overview
// to the failed jobs, to a job, requeues it; checks that a script in a
// job's arguments stays text, that a forged POST is refused, and that the
// live graph moves.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, stores[0].new(t))
	base, _ := mount(t, newHandler(t, f.client, dashboard.Options{PollInterval: 300 * time.Millisecond}))
	shots := screenshots(t)
	failed := f.jobs["failed"].String()

	t.Run("overview, failed jobs, a job, requeue", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#count-failed")),
			chromedp.Poll[chromedp.Void](`document.getElementById("live").getAttribute("data-polls") >= 2`)))
		require.Contains(t, text(t, ctx, "#count-failed"), "1")
		screenshot(t, ctx, shots, "overview")

		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#count-failed")),
			chromedp.WaitVisible(chromedp.CSS(`a[href$="/job/`+failed+`"]`))))
		require.Contains(t, text(t, ctx, "#jobs"), "disk full")
		screenshot(t, ctx, shots, "failed")

		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href$="/job/`+failed+`"]`)),
			chromedp.WaitVisible(chromedp.CSS("#requeue"))))
		require.Equal(t, "failed", text(t, ctx, "#state"))
		require.Contains(t, text(t, ctx, "#stack"), "goroutine 7 [running]")
		screenshot(t, ctx, shots, "job")

		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#requeue")), chromedp.WaitVisible(chromedp.CSS("#flash"))))
		require.Equal(t, "Requeued 1 of 1 job(s).", text(t, ctx, "#flash"))
		require.Equal(t, "enqueued", text(t, ctx, "#state"))
		j, err := f.client.Job(ctx, f.jobs["failed"])
		require.NoError(t, err)
		require.Equal(t, states.NameEnqueued, j.State.Name())
	})

	t.Run("a script in the arguments is text", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/job/"+f.jobs["xss"].String()), chromedp.WaitVisible(chromedp.CSS("#args"))))
		require.Contains(t, text(t, ctx, "#args"), xssText)
		ran, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned === true || document.querySelectorAll("#args script").length > 0`))
		require.NoError(t, err)
		require.False(t, ran, "the payload ran or became an element")
	})

	t.Run("a forged POST is refused", func(t *testing.T) {
		// A page on another origin submits a form to the dashboard, as an
		// attacker's site would.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<form method="post" action="%s/jobs/delete"><input name="id" value="%s"><input name="csrf" value="forged"></form>
<script>document.forms[0].submit()</script>`, base, f.jobs["xss"])
		}))
		defer evil.Close()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(evil.URL),
			chromedp.Poll[chromedp.Void](`location.href.indexOf("/jobs/delete") > 0 && document.body.innerText.indexOf("forbidden") >= 0`)))
		// And a request from the dashboard's own page without the token.
		status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: "id=%s"}).then(r => r.status)`, base+"/jobs/delete", f.jobs["xss"]), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		require.Equal(t, http.StatusForbidden, status)
		j, err := f.client.Job(ctx, f.jobs["xss"])
		require.NoError(t, err)
		require.Equal(t, states.NameEnqueued, j.State.Name(), "the forged POSTs deleted nothing")
	})

	t.Run("the live graph updates", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/"),
			chromedp.Poll[chromedp.Void](`document.getElementById("live").getAttribute("data-polls") >= 1`)))
		for _, role := range []string{"enqueued", "xss", "scheduled"} {
			require.NoError(t, f.client.ChangeState(ctx, f.jobs[role], states.Succeeded{SucceededAt: time.Now()}))
		}
		require.NoError(t, chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.getElementById("live").getAttribute("data-total-succeeded") >= 3`,
			chromedp.WithPollingTimeout(20*time.Second))))
		points, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#live polyline.succeeded").getAttribute("points")`))
		require.NoError(t, err)
		require.NotEmpty(t, points)
		require.NotEqual(t, "–", text(t, ctx, "#live-succeeded"))
		require.NoError(t, chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.querySelector('.count[data-state="succeeded"]').textContent === "4"`,
			chromedp.WithPollingTimeout(10*time.Second))), "the succeeded count follows")
		require.NoError(t, chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.querySelector('.split-count[data-split="ready"]').textContent === `+
			`document.querySelector('.count[data-state="enqueued"]').textContent`, chromedp.WithPollingTimeout(10*time.Second))),
			"the ready count follows the enqueued one: no limit holds a job")
		require.Equal(t, "0", text(t, ctx, `.split-count[data-split="held"]`))
	})

	t.Run("select a whole page and delete it, once confirmed", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/jobs/enqueued"), chromedp.WaitVisible(chromedp.CSS("#select-all"))))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#jobs input[name="id"]').length`))
		require.NoError(t, err)
		require.Positive(t, n)
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#select-all"))))
		checked, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#jobs input[name="id"]:checked').length`))
		require.NoError(t, err)
		require.Equal(t, n, checked)

		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = () => false; true`))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[value="selected"][data-confirm]`)), chromedp.Sleep(300*time.Millisecond)))
		flashes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#flash").length`))
		require.NoError(t, err)
		require.Zero(t, flashes, "declined: nothing was sent")

		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = () => true; true`))
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[value="selected"][data-confirm]`)), chromedp.WaitVisible(chromedp.CSS("#flash"))))
		require.Equal(t, fmt.Sprintf("Deleted %d of %d job(s).", n, n), text(t, ctx, "#flash"))
	})

	t.Run("screenshots of the other pages", func(t *testing.T) {
		for name, path := range map[string]string{"recurring": "/recurring", "batch": "/batches/" + f.batch.String(),
			"queues": "/queues", "workers": "/workers", "processing": "/jobs/processing", "limits": "/limits"} {
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main h1"))))
			screenshot(t, ctx, shots, name)
		}
	})
}
