package dashboard

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// view is what every page template gets.
type view struct {
	Base     string // the mount prefix, without a trailing slash
	Back     string // this page's path and query, relative to Base
	Title    string
	Nav      string // the navigation entry to highlight
	CSRF     string
	ReadOnly bool
	HideArgs bool
	Flash    *flash
	States   []states.Name
	Data     any
}

// errBadRequest marks errors caused by the request itself (400).
var errBadRequest = errors.New("bad request")

// page is a GET handler's content: the template to run, the page title,
// the navigation entry to highlight and the data.
type page struct {
	tmpl, title, nav string
	data             any
}

// page wraps a GET handler: it renders the page it returns, or an error
// page with a status that fits the error.
func (h *Handler) page(get func(r *http.Request) (page, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		base := basePath(r)
		v := &view{Base: base, Back: r.URL.RequestURI(), ReadOnly: h.opts.ReadOnly, HideArgs: h.opts.HideArgs, States: states.Names}
		if !h.opts.ReadOnly {
			v.CSRF = h.csrfToken(w, r, base)
		}
		v.Flash = takeFlash(w, r, base)
		p, err := get(r)
		status := http.StatusOK
		if err != nil {
			status = http.StatusInternalServerError
			switch {
			case errors.Is(err, storage.ErrNotFound):
				status = http.StatusNotFound
			case errors.Is(err, errBadRequest):
				status = http.StatusBadRequest
			case errors.Is(err, storage.ErrNotSupported):
				status = http.StatusNotImplemented
			}
			p = page{tmpl: "error", title: http.StatusText(status), data: err.Error()}
		}
		v.Title, v.Nav, v.Data = p.title, p.nav, p.data
		var buf bytes.Buffer
		if err := h.pages[p.tmpl].ExecuteTemplate(&buf, "layout", v); err != nil {
			http.Error(w, "dashboard: render "+p.tmpl+": "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = buf.WriteTo(w)
	}
}

// stateCount is one state's number of jobs on the overview.
type stateCount struct {
	State     states.Name
	Count     int64
	Estimated bool
}

type overviewData struct {
	Counts       []stateCount
	Queues       []taskflow.QueueInfo
	Day, Week    chart
	LiveInterval int64 // milliseconds
	StatsErr     string
	QueuesErr    string
	AnyEstimated bool
}

func (h *Handler) overview(r *http.Request) (page, error) {
	ctx := r.Context()
	counts, err := h.client.JobCounts(ctx)
	if err != nil {
		return page{}, err
	}
	d := overviewData{LiveInterval: h.opts.PollInterval.Milliseconds()}
	for _, st := range states.Names {
		est := slices.Contains(counts.Estimated, st)
		d.AnyEstimated = d.AnyEstimated || est
		d.Counts = append(d.Counts, stateCount{State: st, Count: counts.Jobs[st], Estimated: est})
	}
	if d.Queues, err = h.client.Queues(ctx); err != nil {
		d.QueuesErr = err.Error()
	}
	now := time.Now()
	day, err := h.client.Stats(ctx, now.Add(-23*time.Hour), now, time.Hour)
	if err == nil {
		var week []taskflow.StatsPoint
		week, err = h.client.Stats(ctx, now.Add(-6*24*time.Hour), now, 24*time.Hour)
		d.Day, d.Week = newChart(day, "15:04"), newChart(week, "Jan 2")
	}
	if err != nil {
		d.StatsErr = err.Error()
	}
	return page{"overview", "Overview", "overview", d}, nil
}

// jobRow is a job in a list, with what its state says in a few words.
type jobRow struct {
	*taskflow.JobInfo
	At       time.Time // when it entered its state
	Detail   string
	Parent   uuid.UUID
	Progress *taskflow.Progress
}

// pager is a list's place: its page number (from 1) and links to the
// neighbour pages, relative to the base, empty when there is none.
type pager struct {
	Base       string
	Page       int
	Prev, Next string
}

// newPager reads the "page" parameter of r, for pages of size rows.
func newPager(r *http.Request, size int) (pager, error) {
	p := pager{Base: basePath(r), Page: 1}
	if s := r.URL.Query().Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n-1 > (math.MaxInt-1)/size {
			return p, fmt.Errorf("%w: page %q: want a number from 1", errBadRequest, s)
		}
		p.Page = n
	}
	return p, nil
}

// link sets the links to the neighbour pages of r's path; more tells
// whether a next page exists.
func (p *pager) link(r *http.Request, more bool) {
	to := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if more {
		p.Next = to(p.Page + 1)
	}
	if p.Page > 1 {
		p.Prev = to(p.Page - 1)
	}
}

type jobsData struct {
	Pager       pager
	State       states.Name
	Task, Queue string
	Jobs        []jobRow
}

func (h *Handler) jobs(r *http.Request) (page, error) {
	st := states.Name(r.PathValue("state"))
	if !st.Valid() {
		return page{}, fmt.Errorf("%w: unknown state %q (want one of %v)", errBadRequest, st, states.Names)
	}
	q := r.URL.Query()
	d := jobsData{State: st, Task: q.Get("task"), Queue: q.Get("queue")}
	var err error
	if d.Pager, err = newPager(r, h.opts.PageSize); err != nil {
		return page{}, err
	}
	size := h.opts.PageSize
	list, err := h.client.Jobs(r.Context(), taskflow.JobQuery{State: st, Task: d.Task, Queue: d.Queue,
		Offset: (d.Pager.Page - 1) * size, Limit: size + 1})
	if err != nil {
		return page{}, err
	}
	d.Pager.link(r, len(list) > size)
	list = list[:min(len(list), size)]
	jl, _ := h.client.Store().(storage.JobLogs)
	for _, j := range list {
		row := jobRow{JobInfo: j, At: enteredAt(j), Parent: j.ParentID, Detail: summary(j.State)}
		if st == states.NameProcessing && jl != nil {
			if _, p, err := jl.JobLogs(r.Context(), j.ID); err == nil && p != nil {
				row.Progress = &taskflow.Progress{Attempt: p.Attempt, Percent: p.Percent, Message: p.Message, At: p.At}
			}
		}
		d.Jobs = append(d.Jobs, row)
	}
	return page{"jobs", stateTitle(st) + " jobs", string(st), d}, nil
}

func stateTitle(st states.Name) string {
	if st == "" {
		return ""
	}
	return string(st[0]-'a'+'A') + string(st[1:])
}

// enteredAt returns when j entered its state, as the state records it (or
// when j last changed, for a state that records no time).
func enteredAt(j *taskflow.JobInfo) time.Time {
	var at time.Time
	switch s := j.State.(type) {
	case states.Enqueued:
		at = s.EnqueuedAt
	case states.Scheduled:
		at = s.ScheduledAt
	case states.Processing:
		at = s.StartedAt
	case states.Succeeded:
		at = s.SucceededAt
	case states.Failed:
		at = s.FailedAt
	case states.Deleted:
		at = s.DeletedAt
	}
	if at.IsZero() {
		return j.UpdatedAt
	}
	return at
}

// summary says in a few words what a state holds.
func summary(s states.State) string {
	switch s := s.(type) {
	case states.Enqueued:
		return s.Reason
	case states.Scheduled:
		return "due " + s.EnqueueAt.UTC().Format(timeLayout) + cmp.Or(": "+s.Reason, "")
	case states.Processing:
		return "on " + s.ServerID
	case states.Awaiting:
		return "on " + string(cmp.Or(s.On, states.OnSuccess)) + " of " + s.ParentID
	case states.Succeeded:
		return fmt.Sprintf("in %v (waited %v)", roundDur(s.Duration), roundDur(s.Latency))
	case states.Failed:
		if s.ErrorType == "" { // an error that is only text
			return s.ErrorMessage
		}
		return s.ErrorType + ": " + s.ErrorMessage
	case states.Deleted:
		return cmp.Or(s.Reason, s.ErrorMessage)
	}
	return ""
}

// findJob sends the find-by-id form to the job's page.
func (h *Handler) findJob(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.URL.Query().Get("id"))
	if err != nil {
		h.page(func(*http.Request) (page, error) {
			return page{}, fmt.Errorf("%w: job id %q is not a UUID", errBadRequest, r.URL.Query().Get("id"))
		})(w, r)
		return
	}
	http.Redirect(w, r, basePath(r)+"/job/"+id.String(), http.StatusSeeOther)
}

// historyEntry is a state in a job's timeline.
type historyEntry struct {
	State   states.Name
	At      time.Time
	Reason  string
	Spent   time.Duration // until the next state (or now, for a current unfinished state)
	Current bool
	Details string // the state as indented JSON
}

type param struct{ Name, Value string }

type jobData struct {
	*taskflow.JobInfo
	Args, Result string
	Params       []param
	History      []historyEntry
	Failure      *states.Failed // the latest failure, if any
	// ParentIsBatch tells whether ParentID names a batch, not a job.
	ParentIsBatch bool
	// Continuations are the jobs that await this one, or awaited it.
	Continuations []*taskflow.JobInfo
}

func (h *Handler) job(r *http.Request) (page, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return page{}, fmt.Errorf("%w: job id %q is not a UUID", errBadRequest, r.PathValue("id"))
	}
	j, err := h.client.Job(r.Context(), id)
	if err != nil {
		return page{}, err
	}
	d := jobData{JobInfo: j, Args: pretty(j.Args)}
	if j.ParentID != uuid.Nil {
		_, err := h.client.BatchProgress(r.Context(), j.ParentID)
		d.ParentIsBatch = err == nil
	}
	if d.Continuations, err = h.client.Jobs(r.Context(), taskflow.JobQuery{ParentID: id, Limit: h.opts.PageSize}); err != nil &&
		!errors.Is(err, taskflow.ErrNotSupported) { // a store that cannot list jobs shows none
		return page{}, err
	}
	if s, ok := j.State.(states.Succeeded); ok && len(s.Result) > 0 {
		d.Result = pretty(s.Result)
	}
	for _, k := range slices.Sorted(maps.Keys(j.Params)) {
		d.Params = append(d.Params, param{k, string(j.Params[k])})
	}
	now := time.Now()
	for i, c := range j.History {
		e := historyEntry{State: c.State.Name(), At: c.At, Reason: c.State.Why(), Current: i == len(j.History)-1}
		switch {
		case !e.Current:
			e.Spent = j.History[i+1].At.Sub(c.At)
		case !e.State.Finished():
			e.Spent = now.Sub(c.At)
		}
		if raw, err := states.Marshal(c.State); err == nil {
			e.Details = pretty(raw)
		}
		if f, ok := c.State.(states.Failed); ok {
			d.Failure = &f
		}
		d.History = append(d.History, e)
	}
	slices.Reverse(d.History) // newest first, as Hangfire shows it
	return page{"job", "Job " + j.ID.String(), string(j.State.Name()), d}, nil
}

// pretty formats JSON with indentation and without the escapes of <, >
// and & (the page escapes them), or returns raw as text when it is not JSON
// (a custom codec).
func pretty(raw []byte) string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) == nil && d.InputOffset() == int64(len(bytes.TrimRight(raw, " \t\r\n"))) {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetEscapeHTML(false)
		e.SetIndent("", "  ")
		if e.Encode(v) == nil {
			return strings.TrimSuffix(buf.String(), "\n")
		}
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	return fmt.Sprintf("%q", raw)
}

// listPage makes the page, named tmpl in the navigation too, that shows
// what list returns.
func listPage[T any](tmpl, title string, list func(context.Context) (T, error)) func(*http.Request) (page, error) {
	return func(r *http.Request) (page, error) {
		v, err := list(r.Context())
		if err != nil {
			return page{}, err
		}
		return page{tmpl, title, tmpl, v}, nil
	}
}

type batchData struct {
	ID       uuid.UUID
	Progress taskflow.BatchProgress
	Finished int
	Jobs     []*taskflow.JobInfo
	More     bool
	// Continuations are the jobs that await the batch, or awaited it.
	Continuations []*taskflow.JobInfo
}

// batchRow is a batch in the list of batches.
type batchRow struct {
	ID       uuid.UUID
	Progress taskflow.BatchProgress
	Finished int
}

type batchesData struct {
	Pager   pager
	Batches []batchRow
	// Unlisted says why the store lists no batches, if it does not.
	Unlisted string
}

// batches lists the newest batches with their progress, or shows the
// batch its "id" parameter names.
func (h *Handler) batches(r *http.Request) (page, error) {
	if id := r.URL.Query().Get("id"); id != "" {
		return h.batchPage(r, id)
	}
	var (
		d   batchesData
		err error
	)
	if d.Pager, err = newPager(r, h.opts.PageSize); err != nil {
		return page{}, err
	}
	size := h.opts.PageSize
	ids, err := h.client.Batches(r.Context(), (d.Pager.Page-1)*size, size+1)
	switch {
	case errors.Is(err, taskflow.ErrNotSupported):
		d.Unlisted = err.Error()
	case err != nil:
		return page{}, err
	}
	d.Pager.link(r, len(ids) > size)
	for _, id := range ids[:min(len(ids), size)] {
		p, err := h.client.BatchProgress(r.Context(), id)
		switch {
		case errors.Is(err, storage.ErrNotFound): // its jobs expired meanwhile
			continue
		case err != nil:
			return page{}, err
		}
		d.Batches = append(d.Batches, batchRow{ID: id, Progress: p, Finished: p.Total - p.Pending})
	}
	return page{"batches", "Batches", "batches", d}, nil
}

func (h *Handler) batch(r *http.Request) (page, error) { return h.batchPage(r, r.PathValue("id")) }

// batchPage shows a batch's progress and its newest jobs.
func (h *Handler) batchPage(r *http.Request, s string) (page, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return page{}, fmt.Errorf("%w: batch id %q is not a UUID", errBadRequest, s)
	}
	d := batchData{ID: id}
	if d.Progress, err = h.client.BatchProgress(r.Context(), id); err != nil {
		return page{}, err
	}
	d.Finished = d.Progress.Total - d.Progress.Pending
	if d.Jobs, err = h.client.Jobs(r.Context(), taskflow.JobQuery{BatchID: id, Limit: h.opts.PageSize + 1}); err != nil {
		return page{}, err
	}
	if len(d.Jobs) > h.opts.PageSize {
		d.Jobs, d.More = d.Jobs[:h.opts.PageSize], true
	}
	if d.Continuations, err = h.client.Jobs(r.Context(), taskflow.JobQuery{ParentID: id, Limit: h.opts.PageSize}); err != nil &&
		!errors.Is(err, taskflow.ErrNotSupported) { // a store that cannot list jobs shows none
		return page{}, err
	}
	return page{"batch", "Batch " + id.String(), "batches", d}, nil
}

type workerRow struct {
	taskflow.WorkerInfo
	Running int
}

// maxRunning bounds the Processing jobs read to count each worker's.
const maxRunning = 10_000

func (h *Handler) workers(r *http.Request) (page, error) {
	list, err := h.client.Workers(r.Context())
	if err != nil {
		return page{}, err
	}
	running, err := h.client.Jobs(r.Context(), taskflow.JobQuery{State: states.NameProcessing, Limit: maxRunning})
	if err != nil && !errors.Is(err, taskflow.ErrNotSupported) { // a store that cannot list jobs counts none
		return page{}, err
	}
	per := map[string]int{}
	for _, j := range running {
		if p, ok := j.State.(states.Processing); ok {
			per[p.ServerID]++
		}
	}
	rows := make([]workerRow, len(list))
	for i, w := range list {
		rows[i] = workerRow{WorkerInfo: w, Running: per[w.ID]}
	}
	return page{"workers", "Workers", "workers", rows}, nil
}

// liveCounts is the answer of the live graph's endpoint: how many jobs
// succeeded and failed from the minute Since until Now, and the jobs per
// state now (as Client.JobCounts has them: some may be estimates).
type liveCounts struct {
	Since     int64                 `json:"since"` // Unix seconds, a minute boundary
	Now       int64                 `json:"now"`   // Unix milliseconds
	Succeeded int64                 `json:"succeeded"`
	Failed    int64                 `json:"failed"`
	Jobs      map[states.Name]int64 `json:"jobs"`
}

// liveWindow is how far back the live endpoint counts from; a graph open
// longer starts again from a later minute.
const liveWindow = time.Hour

// live answers the overview's live graph: the counts of succeeded and
// failed jobs since the minute its "since" parameter names (Unix seconds;
// default: the current minute). The script plots the differences between
// two answers.
func (h *Handler) live(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	since := now
	if s := r.URL.Query().Get("since"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("dashboard: since %q: want Unix seconds", s), http.StatusBadRequest)
			return
		}
		since = time.Unix(n, 0)
	}
	if since.Before(now.Add(-liveWindow)) || since.After(now) {
		since = now
	}
	since = storage.StatsPeriod(since, time.Minute)
	points, err := h.client.Stats(r.Context(), since, now, time.Minute)
	if err != nil {
		http.Error(w, "dashboard: "+err.Error(), http.StatusInternalServerError)
		return
	}
	counts, err := h.client.JobCounts(r.Context())
	if err != nil {
		http.Error(w, "dashboard: "+err.Error(), http.StatusInternalServerError)
		return
	}
	c := liveCounts{Since: since.Unix(), Now: now.UnixMilli(), Jobs: counts.Jobs}
	for _, p := range points {
		c.Succeeded += p.Succeeded
		c.Failed += p.Failed
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(c)
}

// chart is a bar chart of outcome counts, drawn as SVG by the template.
type chart struct {
	Bars      []bar
	Max       int64
	From, To  string
	Succeeded int64
	Failed    int64
}

// bar is one period: the succeeded part at the bottom, the failed part on
// top, in a viewBox of chartWidth by chartHeight.
type bar struct {
	X, W, SY, SH, FY, FH float64
	Title                string
}

const chartWidth, chartHeight = 600.0, 100.0

func newChart(points []taskflow.StatsPoint, label string) chart {
	c := chart{Max: 1}
	for _, p := range points {
		c.Max = max(c.Max, p.Succeeded+p.Failed)
		c.Succeeded += p.Succeeded
		c.Failed += p.Failed
	}
	if len(points) == 0 {
		return c
	}
	c.From, c.To = points[0].At.UTC().Format(label), points[len(points)-1].At.UTC().Format(label)
	w := chartWidth / float64(len(points))
	for i, p := range points {
		sh := chartHeight * float64(p.Succeeded) / float64(c.Max)
		fh := chartHeight * float64(p.Failed) / float64(c.Max)
		c.Bars = append(c.Bars, bar{X: float64(i) * w, W: w * 0.8, SY: chartHeight - sh, SH: sh, FY: chartHeight - sh - fh, FH: fh,
			Title: fmt.Sprintf("%s: %d succeeded, %d failed", p.At.UTC().Format(label), p.Succeeded, p.Failed)})
	}
	return c
}

// jobList is what the "joblist" template shows: jobs, linked under Base.
type jobList struct {
	Base string
	Jobs []*taskflow.JobInfo
}

const timeLayout = "2006-01-02 15:04:05 UTC"

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(time.Microsecond)
	}
}

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format(timeLayout)
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		d := time.Since(t)
		if d < 0 {
			return "in " + (-d).Round(time.Second).String()
		}
		return d.Round(time.Second).String() + " ago"
	},
	"dur":        roundDur,
	"cronWords":  cronWords,
	"nonzeroID":  func(id uuid.UUID) bool { return id != uuid.Nil },
	"jobList":    func(base string, jobs []*taskflow.JobInfo) jobList { return jobList{base, jobs} },
	"stateTitle": stateTitle,
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := files.ReadDir("templates")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, e := range names {
		name := e.Name()[:len(e.Name())-len(".html")]
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("dashboard: parse %s: %w", e.Name(), err)
		}
		pages[name] = t
	}
	return pages, nil
}
