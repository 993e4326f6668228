package dashboard

import (
	"bytes"
	"cmp"
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
	// AssetVer is the hash of the static files, in their URLs: they are
	// cached for good, and a new version is fetched anew.
	AssetVer string
	Version  string        // taskflow's module version
	Now      time.Time     // when the page was made
	Render   time.Duration // how long it took to make
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
		v := &view{Base: base, Back: r.URL.RequestURI(), ReadOnly: h.opts.ReadOnly, HideArgs: h.opts.HideArgs, States: states.Names,
			AssetVer: h.assetVer, Version: version, Now: time.Now()}
		if !h.opts.ReadOnly {
			v.CSRF = h.csrfToken(w, r, base)
		}
		v.Flash = takeFlash(w, r, base)
		p, err := get(r)
		status := http.StatusOK
		if err != nil {
			var msg string
			switch {
			case errors.Is(err, storage.ErrNotFound):
				status, msg = http.StatusNotFound, err.Error()
			case errors.Is(err, errBadRequest):
				status, msg = http.StatusBadRequest, err.Error()
			case errors.Is(err, storage.ErrNotSupported):
				status, msg = http.StatusNotImplemented, err.Error()
			default:
				status, msg = http.StatusServiceUnavailable, h.hide(r, err)
			}
			p = page{tmpl: "error", title: http.StatusText(status), data: msg}
		}
		v.Title, v.Nav, v.Data = p.title, p.nav, p.data
		v.Render = time.Since(v.Now)
		var buf bytes.Buffer
		if err := h.pages[p.tmpl].ExecuteTemplate(&buf, "layout", v); err != nil {
			http.Error(w, h.hide(r, fmt.Errorf("render %s: %w", p.tmpl, err)), http.StatusInternalServerError)
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
	Counts []stateCount
	Queues []queueRow
	// Unserved warns of queues and tasks with jobs no live worker runs.
	Unserved     *unservedView
	Day, Week    chart
	LiveInterval int64 // milliseconds
	StatsErr     string
	QueuesErr    string
	AnyEstimated bool
	// Held and Ready split the Enqueued jobs: held back by a full limit,
	// or waiting only for a worker (JobCounts.Held).
	Held, Ready int64
}

func (h *Handler) overview(r *http.Request) (page, error) {
	ctx := r.Context()
	counts, err := h.client.JobCounts(ctx)
	if err != nil {
		return page{}, err
	}
	d := overviewData{LiveInterval: h.opts.PollInterval.Milliseconds(), Held: counts.Held, Ready: counts.Ready()}
	for _, st := range states.Names {
		est := slices.Contains(counts.Estimated, st)
		d.AnyEstimated = d.AnyEstimated || est
		d.Counts = append(d.Counts, stateCount{State: st, Count: counts.Jobs[st], Estimated: est})
	}
	if qs, err := h.client.Queues(ctx); err != nil {
		d.QueuesErr = h.hide(r, err)
	} else if u, err := h.unserved(r); err != nil {
		d.QueuesErr = h.hide(r, err)
	} else {
		d.Queues, d.Unserved = queueRows(qs, nil, flagged(u)), newUnservedView(u)
	}
	now := time.Now()
	day, err := h.client.Stats(ctx, now.Add(-23*time.Hour), now, time.Hour)
	if err == nil {
		var week []taskflow.StatsPoint
		week, err = h.client.Stats(ctx, now.Add(-6*24*time.Hour), now, 24*time.Hour)
		d.Day, d.Week = newChart(day, "15:04"), newChart(week, "Jan 2")
	}
	if err != nil {
		d.StatsErr = h.hide(r, err)
	}
	return page{"overview", "Overview", "overview", d}, nil
}

// jobRow is a job in a list, with what its state says in a few words.
type jobRow struct {
	*taskflow.JobInfo
	At       time.Time // when it entered its state
	Due      time.Time // when a Scheduled job runs
	ErrType  string    // a Failed job's error type
	Detail   string
	Parent   uuid.UUID
	Progress *taskflow.Progress
}

// pager is an offset list's place: its page number (from 1) and links to
// the neighbour pages, relative to the base, empty when there is none.
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
	Page        keyset
	State       states.Name
	Task, Queue string
	Jobs        []jobRow
	// Total is how many jobs the list holds, -1 when unknown (a task
	// filter); Estimated tells whether it is an estimate.
	Total     int64
	Estimated bool
	// Retries tells the Retries view: Scheduled jobs that ran before.
	Retries bool
	// Scanned tells, in the Retries view, that the page stopped after
	// reading scanLimit jobs without filling up.
	Scanned bool
}

// maxProgressRows bounds the rows of a Processing list that show their
// progress: each is one more read of the store.
const maxProgressRows = 50

// scanLimit bounds the Scheduled jobs the Retries view reads for a page.
const scanLimit = 5000

func (h *Handler) jobs(r *http.Request) (page, error) {
	st := states.Name(r.PathValue("state"))
	if !st.Valid() {
		return page{}, fmt.Errorf("%w: unknown state %q (want one of %v)", errBadRequest, st, states.Names)
	}
	return h.jobList(r, st, false)
}

// retries lists the Scheduled jobs that are retries: those that ran
// before.
func (h *Handler) retries(r *http.Request) (page, error) {
	return h.jobList(r, states.NameScheduled, true)
}

func (h *Handler) jobList(r *http.Request, st states.Name, retries bool) (page, error) {
	q := r.URL.Query()
	d := jobsData{State: st, Task: q.Get("task"), Queue: q.Get("queue"), Total: -1, Retries: retries}
	var err error
	if d.Page, err = newKeyset(r, h.opts.PageSize); err != nil {
		return page{}, err
	}
	query := d.Page.apply(taskflow.JobQuery{State: st, Task: d.Task, Queue: d.Queue})
	var (
		list    []*taskflow.JobInfo
		scanned string // where the Retries view stopped reading
	)
	if retries {
		list, scanned, err = h.scanRetries(r, query)
	} else {
		list, err = h.client.Jobs(r.Context(), query)
	}
	if err != nil {
		return page{}, badCursor(err)
	}
	list = d.Page.page(list)
	if d.Scanned = scanned != ""; d.Scanned && !query.Backward {
		d.Page.Next = d.Page.link(scanned, "", false)
	}
	if d.Task == "" && !retries {
		if counts, err := h.counts.get(r.Context(), d.Queue, h.client.QueueJobCounts); err == nil {
			d.Total, d.Estimated = counts.Jobs[st], slices.Contains(counts.Estimated, st)
		}
	}
	jl, _ := h.client.Store().(storage.JobLogs)
	for _, j := range list {
		row := jobRow{JobInfo: j, At: enteredAt(j), Parent: j.ParentID, Detail: summary(j.State)}
		switch s := j.State.(type) {
		case states.Scheduled:
			row.Due = s.EnqueueAt
		case states.Failed:
			row.ErrType = s.ErrorType
		}
		if st == states.NameProcessing && jl != nil && len(d.Jobs) < maxProgressRows {
			if _, p, err := jl.JobLogs(r.Context(), j.ID); err == nil && p != nil {
				row.Progress = &taskflow.Progress{Attempt: p.Attempt, Percent: p.Percent, Message: p.Message, At: p.At}
			}
		}
		d.Jobs = append(d.Jobs, row)
	}
	title, nav := stateTitle(st)+" jobs", string(st)
	if retries {
		title, nav = "Retries", "retries"
	}
	return page{"jobs", title, nav, d}, nil
}

// scanRetries walks the Scheduled jobs as query does, keeping those that
// ran before (retries), until it has a page and one more, or has read
// scanLimit jobs; then it returns the cursor of the last job read, for
// the next page to go on from. The cursors are the store's.
func (h *Handler) scanRetries(r *http.Request, query taskflow.JobQuery) ([]*taskflow.JobInfo, string, error) {
	want := query.Limit
	query.Limit = min(max(want*4, 1000), scanLimit) // few large reads: each costs a round trip and a plan
	var out []*taskflow.JobInfo
	for read := 0; read < scanLimit; {
		list, err := h.client.Jobs(r.Context(), query)
		if err != nil {
			return nil, "", err
		}
		read += len(list)
		for _, j := range list {
			if j.Attempt > 0 {
				out = append(out, j)
				if len(out) == want {
					return out, "", nil
				}
			}
		}
		if len(list) < query.Limit {
			return out, "", nil
		}
		query.Cursor = list[len(list)-1].Cursor
	}
	return out, query.Cursor, nil
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
		return s.Reason
	case states.Processing:
		return "on " + s.ServerID
	case states.Awaiting:
		return "on " + string(cmp.Or(s.On, states.OnSuccess)) + " of " + s.ParentID
	case states.Succeeded:
		return fmt.Sprintf("in %v (waited %v)", roundDur(s.Duration), roundDur(s.Latency))
	case states.Failed:
		return firstLine(s.ErrorMessage, rowErrorLimit)
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

// parent sends a link to a continuation's parent, a job or a batch, to
// its page.
func (h *Handler) parent(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	to := "/job/"
	if _, err := h.peek(r.Context(), id); errors.Is(err, storage.ErrNotFound) {
		to = "/batches/"
	}
	http.Redirect(w, r, basePath(r)+to+id.String(), http.StatusSeeOther)
}

// historyEntry is a state in a job's timeline.
type historyEntry struct {
	State   states.Name
	At      time.Time
	Reason  preview
	Spent   time.Duration // until the next state (or now, for a current unfinished state)
	Current bool
	Details preview // the state as indented JSON
}

type param struct {
	Name  string
	Value preview
}

// failure is a Failed state as a job's page shows it: clipped.
type failure struct {
	states.Failed
	Message, Details preview
}

type jobData struct {
	*taskflow.JobInfo
	// Args and Result are previews of the values, empty when HideArgs
	// keeps them off the page; ArgsSize and ResultSize their sizes.
	Args, Result         preview
	ArgsSize, ResultSize int
	HasResult            bool
	Params               []param
	History              []historyEntry
	// Failure is the failure the job is in, if it is Failed.
	Failure *failure
	// ParentIsBatch tells whether ParentID names a batch, not a job.
	ParentIsBatch bool
	// Continuations are the jobs that await this one, or awaited it.
	Continuations []*taskflow.JobInfo
	Logs          []logLine
	// LogsLeftOut and HistoryLeftOut count the earliest records and
	// states the page leaves out.
	LogsLeftOut, HistoryLeftOut int
	// NoWorker says why no live worker can run the job, if none can.
	NoWorker string
}

// logLine is a log record with its message and attributes clipped.
type logLine struct {
	taskflow.LogRecord
	Message, Attrs string
}

// A job's page shows each log message and its attributes up to logLimit
// bytes, the latest maxLogs records, the latest maxHistory states, each
// state's data up to detailsLimit bytes: a page stays small whatever a job
// went through.
const (
	logLimit     = 4 << 10
	maxLogs      = 500
	maxHistory   = 100
	detailsLimit = 8 << 10
)

func (h *Handler) job(r *http.Request) (page, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return page{}, fmt.Errorf("%w: job id %q is not a UUID", errBadRequest, r.PathValue("id"))
	}
	j, err := h.client.Job(r.Context(), id)
	if err != nil {
		return page{}, err
	}
	d := jobData{JobInfo: j, ArgsSize: len(j.Args)}
	if !h.opts.HideArgs {
		d.Args = previewJSON(j.Args, previewLimit)
	}
	if j.ParentID != uuid.Nil {
		_, err := h.client.BatchProgress(r.Context(), j.ParentID)
		d.ParentIsBatch = err == nil
	}
	if d.Continuations, err = h.client.Jobs(r.Context(), taskflow.JobQuery{ParentID: id, Limit: h.opts.PageSize}); err != nil &&
		!errors.Is(err, taskflow.ErrNotSupported) { // a store that cannot list jobs shows none
		return page{}, err
	}
	if d.NoWorker, err = h.noWorker(r, j); err != nil {
		return page{}, err
	}
	if s, ok := j.State.(states.Succeeded); ok && len(s.Result) > 0 {
		d.HasResult, d.ResultSize = true, len(s.Result)
		if !h.opts.HideArgs {
			d.Result = previewJSON(s.Result, previewLimit)
		}
	}
	if f, ok := j.State.(states.Failed); ok {
		d.Failure = &failure{Failed: f, Message: clip(f.ErrorMessage, previewLimit), Details: clip(f.ErrorDetails, previewLimit)}
	}
	for _, k := range slices.Sorted(maps.Keys(j.Params)) {
		d.Params = append(d.Params, param{k, clip(string(j.Params[k]), previewLimit)})
	}
	logs := j.Logs
	if len(logs) > maxLogs { // the latest
		d.LogsLeftOut, logs = len(logs)-maxLogs, logs[len(logs)-maxLogs:]
	}
	for _, l := range logs {
		d.Logs = append(d.Logs, logLine{LogRecord: l, Message: clipped(l.Message, logLimit), Attrs: clipped(string(l.Attrs), logLimit)})
	}
	now := time.Now()
	first := max(len(j.History)-maxHistory, 0) // the latest
	d.HistoryLeftOut = first
	for i, c := range j.History[first:] {
		i += first
		e := historyEntry{State: c.State.Name(), At: c.At, Reason: clip(c.State.Why(), previewLimit), Current: i == len(j.History)-1}
		switch {
		case !e.Current:
			e.Spent = j.History[i+1].At.Sub(c.At)
		case !e.State.Finished():
			e.Spent = now.Sub(c.At)
		}
		st := c.State
		if s, ok := st.(states.Succeeded); ok && h.opts.HideArgs && len(s.Result) > 0 {
			s.Result = json.RawMessage(`"(hidden)"`)
			st = s
		}
		if raw, err := states.Marshal(st); err == nil {
			e.Details = previewJSON(raw, detailsLimit)
		}
		d.History = append(d.History, e)
	}
	slices.Reverse(d.History) // newest first, as Hangfire shows it
	return page{"job", "Job " + j.ID.String(), string(j.State.Name()), d}, nil
}

// clipped returns the start of s, at most limit bytes, with an ellipsis
// when anything was left out.
func clipped(s string, limit int) string {
	p := clip(s, limit)
	if p.More > 0 {
		return p.Text + " …"
	}
	return p.Text
}

// queueRow is a queue with how many of its jobs run.
type queueRow struct {
	taskflow.QueueInfo
	Processing int
	// Unserved tells that jobs wait and no live worker serves the queue.
	Unserved bool
}

// queueRows returns a row per queue of qs with its running jobs from
// processing, flagged when unserved says no live worker serves it.
func queueRows(qs []taskflow.QueueInfo, processing map[string]int, unserved func(taskflow.QueueInfo) bool) []queueRow {
	rows := make([]queueRow, len(qs))
	for i, q := range qs {
		rows[i] = queueRow{QueueInfo: q, Processing: processing[q.Name], Unserved: unserved(q)}
	}
	return rows
}

// queues lists the queues, each with its jobs waiting and running.
func (h *Handler) queues(r *http.Request) (page, error) {
	list, err := h.client.Queues(r.Context())
	if err != nil {
		return page{}, err
	}
	per, err := h.running(r, func(j *taskflow.JobInfo) string { return j.Queue })
	if err != nil {
		return page{}, err
	}
	unserved, err := h.queueUnserved(r)
	if err != nil {
		return page{}, err
	}
	return page{"queues", "Queues", "queues", queueRows(list, per, unserved)}, nil
}

// running counts the Processing jobs (up to maxRunning of them) by key.
func (h *Handler) running(r *http.Request, key func(*taskflow.JobInfo) string) (map[string]int, error) {
	running, err := h.client.Jobs(r.Context(), taskflow.JobQuery{State: states.NameProcessing, Limit: maxRunning})
	if err != nil && !errors.Is(err, taskflow.ErrNotSupported) { // a store that cannot list jobs counts none
		return nil, err
	}
	per := map[string]int{}
	for _, j := range running {
		per[key(j)]++
	}
	return per, nil
}

type batchData struct {
	ID       uuid.UUID
	Progress taskflow.BatchProgress
	Finished int
	Jobs     []*taskflow.JobInfo
	Page     keyset
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
	Page    keyset
	Batches []batchRow
	// Unlisted says why the store lists no batches, if it does not.
	Unlisted string
}

// batches lists the batches, newest first, a keyset page at a time, with
// their progress, or shows the batch its "id" parameter names.
func (h *Handler) batches(r *http.Request) (page, error) {
	if id := r.URL.Query().Get("id"); id != "" {
		return h.batchPage(r, id)
	}
	var (
		d   batchesData
		err error
	)
	if d.Page, err = newKeyset(r, h.opts.PageSize); err != nil {
		return page{}, err
	}
	q, err := d.Page.batches()
	if err != nil {
		return page{}, err
	}
	ids, err := h.client.Batches(r.Context(), q)
	switch {
	case errors.Is(err, taskflow.ErrNotSupported):
		d.Unlisted = err.Error()
	case err != nil:
		return page{}, err
	}
	for _, id := range walked(&d.Page, ids, uuid.UUID.String) {
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
	if d.Page, err = newKeyset(r, h.opts.PageSize); err != nil {
		return page{}, err
	}
	jobs, err := h.client.Jobs(r.Context(), d.Page.apply(taskflow.JobQuery{BatchID: id}))
	if err != nil {
		return page{}, badCursor(err)
	}
	d.Jobs = d.Page.page(jobs)
	if d.Continuations, err = h.client.Jobs(r.Context(), taskflow.JobQuery{ParentID: id, Limit: h.opts.PageSize}); err != nil &&
		!errors.Is(err, taskflow.ErrNotSupported) { // a store that cannot list jobs shows none
		return page{}, err
	}
	return page{"batch", "Batch " + id.String(), "batches", d}, nil
}

type workerRow struct {
	taskflow.WorkerInfo
	Running int
	// TasksKnown tells that the worker says which tasks it runs (a
	// worker of an older release does not, and runs any).
	TasksKnown bool
	// Stale tells that no heartbeat came for staleAfter: the worker may
	// have stopped, and is removed once its timeout passes.
	Stale bool
}

// staleAfter is how long without a heartbeat marks a worker stale: many
// beats (one a second by default) missed.
const staleAfter = 10 * time.Second

// maxRunning bounds the Processing jobs read to count each worker's.
const maxRunning = 10_000

func (h *Handler) workers(r *http.Request) (page, error) {
	list, err := h.client.Workers(r.Context())
	if err != nil {
		return page{}, err
	}
	per, err := h.running(r, func(j *taskflow.JobInfo) string {
		p, _ := j.State.(states.Processing)
		return p.ServerID
	})
	if err != nil {
		return page{}, err
	}
	rows := make([]workerRow, len(list))
	for i, w := range list {
		rows[i] = workerRow{WorkerInfo: w, Running: per[w.ID], TasksKnown: w.Tasks != nil, Stale: time.Since(w.HeartbeatAt) > staleAfter}
	}
	return page{"workers", "Workers", "workers", rows}, nil
}

// liveCounts is the answer of the live graph's endpoint: how many jobs
// succeeded and failed from the minute Since until Now, and the jobs per
// state now (as Client.JobCounts has them: some may be estimates), the
// Enqueued ones split into held by a full limit and ready.
type liveCounts struct {
	Since     int64                 `json:"since"` // Unix seconds, a minute boundary
	Now       int64                 `json:"now"`   // Unix milliseconds
	Succeeded int64                 `json:"succeeded"`
	Failed    int64                 `json:"failed"`
	Jobs      map[states.Name]int64 `json:"jobs"`
	Held      int64                 `json:"held"`
	Ready     int64                 `json:"ready"`
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
	var counts taskflow.JobCounts
	if err == nil {
		counts, err = h.client.JobCounts(r.Context())
	}
	if err != nil {
		http.Error(w, h.hide(r, err), http.StatusServiceUnavailable)
		return
	}
	c := liveCounts{Since: since.Unix(), Now: now.UnixMilli(), Jobs: counts.Jobs, Held: counts.Held, Ready: counts.Ready()}
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

// utcText is a time as a list shows it in full, in UTC.
func utcText(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(timeLayout)
}

// agoText is a time relative to now.
func agoText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	if d < 0 {
		return "in " + (-d).Round(time.Second).String()
	}
	return d.Round(time.Second).String() + " ago"
}

// isoText is a time as the datetime attribute holds it.
func isoText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

var funcs = template.FuncMap{
	"ts":  utcText,
	"ago": agoText,
	"iso": isoText,
	"num": func(n any) string {
		switch n := n.(type) {
		case int:
			return num(int64(n))
		case int64:
			return num(n)
		}
		return fmt.Sprint(n)
	},
	"offered":    offered,
	"previewOf":  func(p preview, raw, id string) previewLink { return previewLink{p, raw, id} },
	"pages":      func(base string, k keyset) keysetLinks { return keysetLinks{base, k, false} },
	"byAge":      func(base string, k keyset) keysetLinks { return keysetLinks{base, k, true} },
	"half":       func(n int64) int64 { return n / 2 },
	"dur":        roundDur,
	"cronWords":  cronWords,
	"nonzeroID":  func(id uuid.UUID) bool { return id != uuid.Nil },
	"jobList":    func(base string, jobs []*taskflow.JobInfo) jobList { return jobList{base, jobs} },
	"stateTitle": stateTitle,
	"jobRows":    jobRows,
}

// previewLink is what the "preview" template shows: a clipped value, the
// link to it whole, and the element id of the value.
type previewLink struct {
	preview
	Raw, ID string
}

// keysetLinks is what the "keyset" template shows: a list's links.
type keysetLinks struct {
	Base string
	Page keyset
	// ByAge names the links of a list that runs newest first "Newer" and
	// "Older", else "Previous" and "Next".
	ByAge bool
}

// rowErrorLimit bounds the error shown on a row of a list of failed jobs.
const rowErrorLimit = 160

// num formats n with thousands separators: 1,234,567.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
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
