package dashboard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// eval runs a script in the page and returns its value.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// failJobs enqueues n jobs and fails them, the newest last.
func failJobs(t *testing.T, c *taskflow.Client, n int, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := range n {
		h, err := Echo.On(c).Enqueue(ctx, Note{Text: fmt.Sprintf("%s %d", prefix, i)})
		require.NoError(t, err)
		require.NoError(t, c.ChangeState(ctx, h.ID, states.Failed{FailedAt: time.Now(), ErrorType: "*app.Error", ErrorMessage: fmt.Sprintf("%s %d failed\nsecond line", prefix, i)}))
		ids = append(ids, h.ID.String())
	}
	return ids
}

// TestBrowserOperator walks what an operator does in headless Chromium:
// a hidden secret stays out of the DOM; an action from a stale page is
// refused; paging reaches the last page and back; "requeue all" asks with
// the number and works in chunks; the refresh control reloads; times move;
// the layout holds at 1,400 and at 390 pixels.
func TestBrowserOperator(t *testing.T) {
	ctx := browser(t)
	shots := screenshots(t)

	t.Run("a hidden secret is not in the DOM", func(t *testing.T) {
		f := newFixture(t, memstore.New())
		const secret = "s3cr3t-api-key"
		h, err := Echo.On(f.client).Enqueue(context.Background(), Note{Text: secret})
		require.NoError(t, err)
		base, _ := mount(t, newHandler(t, f.client, dashboard.Options{HideArgs: true}))
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/job/"+h.ID.String()), chromedp.WaitVisible(chromedp.CSS("#show-args"))))
		require.False(t, eval[bool](t, ctx, fmt.Sprintf(`document.documentElement.outerHTML.includes(%q)`, secret)))
		href := eval[string](t, ctx, `document.getElementById("show-args").href`)
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(href), chromedp.WaitReady(chromedp.CSS("body"))))
		require.Contains(t, text(t, ctx, "body"), secret, "on demand")
	})

	t.Run("an action from a stale page is refused", func(t *testing.T) {
		f := newFixture(t, memstore.New())
		base, _ := mount(t, newHandler(t, f.client, dashboard.Options{}))
		failed := f.jobs["failed"].String()
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/jobs/failed"), chromedp.WaitVisible(chromedp.CSS(`input[value="`+failed+`"]`))))
		require.NoError(t, f.client.Requeue(context.Background(), f.jobs["failed"])) // meanwhile, someone requeues it
		eval[bool](t, ctx, `window.confirm = () => true; true`)
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`input[name="id"][value="`+failed+`"]`)),
			chromedp.Click(chromedp.CSS(`button[value="selected"].danger`)), chromedp.WaitVisible(chromedp.CSS("#flash"))))
		require.Contains(t, text(t, ctx, "#flash"), "Deleted 0 of 1 job(s). 1 job(s) had moved on from failed")
		j, err := f.client.Job(context.Background(), f.jobs["failed"])
		require.NoError(t, err)
		require.Equal(t, states.NameEnqueued, j.State.Name(), "the requeued job was not deleted")
	})

	t.Run("paging to the last page and back", func(t *testing.T) {
		c, err := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
		require.NoError(t, err)
		ids := failJobs(t, c, 25, "paged")
		base, _ := mount(t, newHandler(t, c, dashboard.Options{PageSize: 10}))
		rows := func() []string {
			return strings.Fields(eval[string](t, ctx, `Array.from(document.querySelectorAll("table.jobs td a.mono")).map(a => a.textContent).join(" ")`))
		}
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/jobs/failed"), chromedp.WaitVisible(chromedp.CSS("#page-last"))))
		require.Equal(t, []string{ids[24], ids[23]}, rows()[:2], "newest first")
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#page-last")), chromedp.WaitVisible(chromedp.CSS("#page-first"))))
		require.Equal(t, []string{ids[9], ids[8], ids[7], ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}, rows(), "the last page: the oldest")
		require.Zero(t, eval[int](t, ctx, `document.querySelectorAll("#page-next").length`), "nothing after the last page")
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#page-prev")), chromedp.WaitVisible(chromedp.CSS("#page-next"))))
		require.Equal(t, ids[19], rows()[0])
		require.Equal(t, ids[10], rows()[9])
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#page-prev")), chromedp.Sleep(100*time.Millisecond), chromedp.WaitVisible(chromedp.CSS("#page-next"))))
		require.Equal(t, ids[24], rows()[0], "back at the first page")
		require.Contains(t, text(t, ctx, "#jobs"), "paged 24 failed …", "the first line of the error, marked as cut")
	})

	t.Run("requeue all N, confirmed, in chunks", func(t *testing.T) {
		c, err := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
		require.NoError(t, err)
		failJobs(t, c, 1203, "bulk")
		base, _ := mount(t, newHandler(t, c, dashboard.Options{}))
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/jobs/failed"), chromedp.WaitVisible(chromedp.CSS("#requeue-all"))))
		eval[bool](t, ctx, `window.asked = []; window.confirm = m => { window.asked.push(m); return false; }; true`)
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#requeue-all")), chromedp.Sleep(200*time.Millisecond)))
		require.Equal(t, "Requeue all 1,203 failed jobs?", eval[string](t, ctx, `window.asked[0]`), "the confirmation states N")
		counts, err := c.JobCounts(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 1203, counts.Jobs[states.NameFailed], "declined: nothing done")

		eval[bool](t, ctx, `window.confirm = () => true; true`)
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#requeue-all")),
			chromedp.Poll[chromedp.Void](`document.getElementById("bulk-progress").getAttribute("data-finished") === "true"`, chromedp.WithPollingTimeout(60*time.Second))))
		require.Contains(t, text(t, ctx, "#bulk-progress"), "Done: 1,203 job(s) changed.")
		counts, err = c.JobCounts(context.Background())
		require.NoError(t, err)
		require.Zero(t, counts.Jobs[states.NameFailed])
		require.EqualValues(t, 1203, counts.Jobs[states.NameEnqueued])
	})

	t.Run("refresh and times", func(t *testing.T) {
		f := newFixture(t, memstore.New())
		base, _ := mount(t, newHandler(t, f.client, dashboard.Options{}))
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/jobs/enqueued"), chromedp.WaitVisible(chromedp.CSS("#refresh"))))
		utc := eval[string](t, ctx, `document.querySelector("time[data-relative]").title`)
		require.Contains(t, utc, "UTC", "UTC in the tooltip")
		before := eval[string](t, ctx, `document.querySelector("time[data-relative]").textContent`)
		require.NoError(t, chromedp.Do(ctx, chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("time[data-relative]").textContent !== %q`, before),
			chromedp.WithPollingTimeout(5*time.Second))), "relative times stay current")
		eval[bool](t, ctx, `window.marker = 1; true`)
		require.NoError(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#refresh"), "5")))
		eval[bool](t, ctx, `document.getElementById("refresh").dispatchEvent(new Event("change"))`)
		require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(6500*time.Millisecond), chromedp.WaitVisible(chromedp.CSS("#refresh"))))
		require.True(t, eval[bool](t, ctx, `window.marker === undefined`), "the page reloaded")
		require.Equal(t, "5", eval[string](t, ctx, `document.getElementById("refresh").value`), "the choice is kept")
		eval[bool](t, ctx, `sessionStorage.removeItem("taskflow-refresh"); true`)
	})

	t.Run("layout at 1,400 and 390 pixels", func(t *testing.T) {
		f := newFixture(t, memstore.New())
		failJobs(t, f.client, 3, "a long error message that goes on and on to see how the row wraps on a narrow screen")
		base, _ := mount(t, newHandler(t, f.client, dashboard.Options{}))
		for _, tt := range []struct {
			width int64
			name  string
		}{{1400, "desktop"}, {390, "phone"}} {
			// The overview shows the warning of a queue no worker serves.
			for _, path := range []string{"/", "/limits", "/workers", "/jobs/failed"} {
				require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(tt.width, 900),
					chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main h1"))))
				overflow := eval[int](t, ctx, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
				require.LessOrEqual(t, overflow, 0, "%s at %d px: the page does not scroll sideways (tables scroll in their box)", path, tt.width)
				if tt.width == 1400 {
					rows := eval[int](t, ctx, `new Set(Array.from(document.querySelectorAll("header nav a")).map(a => a.offsetTop)).size`)
					require.Equal(t, 1, rows, "the navigation fits on one line")
					hidden := eval[int](t, ctx, `(n => n.scrollWidth - n.clientWidth)(document.querySelector("header nav"))`)
					require.LessOrEqual(t, hidden, 0, "and shows every entry")
				}
			}
			screenshot(t, ctx, shots, "failed-"+tt.name)
		}
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))
	})
}
