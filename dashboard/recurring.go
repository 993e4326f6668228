package dashboard

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/taskflow-go/taskflow/internal/recurring"
	"github.com/taskflow-go/taskflow/taskflow"
)

// recurringRow is a recurring job as its page lists it: with the error of
// a schedule that cannot be parsed, and its next run in its own zone.
type recurringRow struct {
	*taskflow.RecurringJob
	Err     string
	NextTZ  string // the next run in the definition's time zone
	Overdue bool   // active, and its next run is more than a minute past
}

type recurringData struct {
	Pager        pager
	Rows         []recurringRow
	Search, Sort string
	Total, Found int
	Broken       int // definitions whose schedule cannot be parsed
	Size         int
	Sizes        []int
}

// recurringSorts are the orders the recurring page offers, by name.
var recurringSorts = map[string]func(a, b *taskflow.RecurringJob) int{
	"id": func(a, b *taskflow.RecurringJob) int { return cmp.Compare(a.ID, b.ID) },
	"task": func(a, b *taskflow.RecurringJob) int {
		return cmp.Or(cmp.Compare(a.Task, b.Task), cmp.Compare(a.ID, b.ID))
	},
	"next": func(a, b *taskflow.RecurringJob) int {
		return cmp.Or(a.NextRun.Compare(b.NextRun), cmp.Compare(a.ID, b.ID))
	},
	"last": func(a, b *taskflow.RecurringJob) int {
		return cmp.Or(b.LastRun.Compare(a.LastRun), cmp.Compare(a.ID, b.ID))
	},
}

// recurringPage lists the recurring jobs, a page at a time: those whose
// id, task, queue or cron expression contain the search ("q"), in the
// order "sort" names (id, task, next run or last run, latest first).
func (h *Handler) recurringPage(r *http.Request) (page, error) {
	q := r.URL.Query()
	d := recurringData{Search: strings.TrimSpace(q.Get("q")), Sort: cmp.Or(q.Get("sort"), "id")}
	order, ok := recurringSorts[d.Sort]
	if !ok {
		d.Sort, order = "id", recurringSorts["id"]
	}
	k, err := newKeyset(r, h.opts.PageSize)
	if err != nil {
		return page{}, err
	}
	d.Size, d.Sizes = k.Size, k.Sizes
	if d.Pager, err = newPager(r, d.Size); err != nil {
		return page{}, err
	}
	all, err := h.client.RecurringJobs(r.Context())
	if err != nil {
		return page{}, err
	}
	d.Total = len(all)
	needle := strings.ToLower(d.Search)
	all = slices.DeleteFunc(all, func(j *taskflow.RecurringJob) bool {
		return needle != "" && !strings.Contains(strings.ToLower(j.ID+"\x00"+j.Task+"\x00"+j.Queue+"\x00"+j.Spec), needle)
	})
	d.Found = len(all)
	slices.SortStableFunc(all, order)
	from := min((d.Pager.Page-1)*d.Size, len(all))
	to := min(from+d.Size, len(all))
	d.Pager.link(r, to < len(all))
	now := time.Now()
	for _, j := range all[from:to] {
		row := recurringRow{RecurringJob: j}
		if _, err := recurring.Parse(j.Spec, j.TimeZone); err != nil {
			row.Err = err.Error()
		} else if loc, err := time.LoadLocation(j.TimeZone); err == nil && !j.NextRun.IsZero() {
			row.NextTZ = j.NextRun.In(loc).Format("2006-01-02 15:04 MST")
		}
		row.Overdue = !j.Paused && !j.NextRun.IsZero() && now.Sub(j.NextRun) > time.Minute
		d.Rows = append(d.Rows, row)
	}
	for _, j := range all {
		if _, err := recurring.Parse(j.Spec, j.TimeZone); err != nil {
			d.Broken++
		}
	}
	return page{"recurring", "Recurring jobs", "recurring", d}, nil
}
