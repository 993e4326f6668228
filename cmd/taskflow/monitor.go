package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/taskflow"
)

var statsCommand = &command{
	name: "stats", summary: "Show jobs per state and per queue, and outcomes over the last hour, day and week",
	help: `Counts marked ~ are estimates: on a large PostgreSQL store, succeeded and
deleted are estimated above 100,000 jobs, so that stats stays fast. Latency is
how long the job waiting longest in a queue has waited. Of the enqueued jobs,
held are those a full limit holds back now (every slot of a concurrency limit in
use, or a rate limit spent until its next start; see taskflow limits), each
counted once however many limits hold it, and ready the others, which wait only
for a worker. The outcome counts are
kept per minute for 8 days, apart from the jobs, so they outlive the jobs'
retention. With --queue, the jobs per state are those of that queue.`,
	define: func(fs *flag.FlagSet, e *env) action {
		queue := fs.String("queue", "", "count the jobs per state of this queue only")
		act := withClient("stats", func(ctx context.Context, e *env, c *taskflow.Client) error {
			return stats(ctx, e, c, *queue)
		})(fs, e)
		return func(ctx context.Context, args []string) error {
			if err := validQueue("stats", *queue); err != nil {
				return err
			}
			return act(ctx, args)
		}
	},
}

// periods are the spans stats sums outcomes over.
var periods = []struct {
	name string
	d    time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}

type queueOut struct {
	Name     string `json:"name"`
	Paused   bool   `json:"paused"`
	Enqueued int64  `json:"enqueued"`
	// Held: how many of Enqueued a full limit holds back.
	Held      int64   `json:"held"`
	LatencyMS float64 `json:"latency_ms"`
	// Unserved: jobs wait and no live worker serves the queue.
	Unserved bool `json:"unserved"`
}

func queuesOut(qs []taskflow.QueueInfo, u *taskflow.Unserved) []queueOut {
	out := make([]queueOut, len(qs))
	for i, q := range qs {
		out[i] = queueOut{q.Name, q.Paused, q.Enqueued, q.Held, float64(q.Latency) / float64(time.Millisecond), unservedQueue(u, q.Name)}
	}
	return out
}

// unserved reads the work no live worker serves, or nil on a store that
// keeps no registry of workers.
func unserved(ctx context.Context, c *taskflow.Client) (*taskflow.Unserved, error) {
	u, err := c.Unserved(ctx)
	if errors.Is(err, taskflow.ErrNotSupported) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func unservedQueue(u *taskflow.Unserved, name string) bool {
	return u != nil && slices.ContainsFunc(u.Queues, func(q taskflow.QueueInfo) bool { return q.Name == name })
}

// queueTable prints the queues; with u, the queues whose jobs no live
// worker serves are flagged, followed by the tasks of waiting jobs that no
// live worker runs.
func (e *env) queueTable(qs []taskflow.QueueInfo, u *taskflow.Unserved) {
	if len(qs) == 0 {
		fmt.Fprintln(e.stdout, "no queue has jobs waiting or is paused")
		return
	}
	rows := make([]string, len(qs))
	for i, q := range qs {
		lat := "-"
		if q.Enqueued > 0 {
			lat = round(q.Latency)
		}
		served := "-"
		switch {
		case unservedQueue(u, q.Name):
			served = "NO WORKER"
		case u != nil && q.Enqueued > 0:
			served = "yes"
		}
		rows[i] = fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s", q.Name, yesNo(q.Paused), q.Enqueued, q.Held, lat, served)
	}
	e.table("QUEUE\tPAUSED\tENQUEUED\tHELD\tLATENCY\tSERVED", rows)
	if u == nil || len(u.Tasks) == 0 {
		return
	}
	fmt.Fprintln(e.stdout)
	rows = rows[:0]
	for _, task := range slices.Sorted(maps.Keys(u.Tasks)) {
		rows = append(rows, fmt.Sprintf("%s\t%d", task, u.Tasks[task]))
	}
	e.table(fmt.Sprintf("TASK NO LIVE WORKER RUNS (%d workers)\tWAITING JOBS", u.Workers), rows)
}

func stats(ctx context.Context, e *env, c *taskflow.Client, queue string) error {
	counts, err := c.QueueJobCounts(ctx, queue)
	if err != nil {
		return err
	}
	qs, err := c.Queues(ctx)
	if err != nil {
		return err
	}
	u, err := unserved(ctx, c)
	if err != nil {
		return err
	}
	now := time.Now()
	points, err := c.Stats(ctx, now.Add(-periods[len(periods)-1].d), now, time.Minute)
	if err != nil {
		return err
	}
	type periodOut struct {
		Period    string `json:"period"`
		Succeeded int64  `json:"succeeded"`
		Failed    int64  `json:"failed"`
		Deleted   int64  `json:"deleted"`
	}
	outcomes := make([]periodOut, len(periods))
	for i, p := range periods {
		outcomes[i].Period = p.name
		since := now.Add(-p.d).Truncate(time.Minute)
		for _, pt := range points {
			if !pt.At.Before(since) {
				outcomes[i].Succeeded += pt.Succeeded
				outcomes[i].Failed += pt.Failed
				outcomes[i].Deleted += pt.Deleted
			}
		}
	}
	if e.json {
		type stateOut struct {
			State     states.Name `json:"state"`
			Jobs      int64       `json:"jobs"`
			Estimated bool        `json:"estimated"`
		}
		out := struct {
			States []stateOut `json:"states"`
			// Held and Ready split the enqueued jobs: held back by a
			// full limit, or waiting only for a worker.
			Held     int64       `json:"held"`
			Ready    int64       `json:"ready"`
			Queues   []queueOut  `json:"queues"`
			Outcomes []periodOut `json:"outcomes"`
			// UnservedTasks counts the waiting jobs of each task no live
			// worker runs.
			UnservedTasks map[string]int `json:"unserved_tasks,omitempty"`
		}{Held: counts.Held, Ready: counts.Ready(), Queues: queuesOut(qs, u), Outcomes: outcomes}
		if u != nil {
			out.UnservedTasks = u.Tasks
		}
		for _, s := range states.Names {
			out.States = append(out.States, stateOut{s, counts.Jobs[s], slices.Contains(counts.Estimated, s)})
		}
		return e.writeJSON(out)
	}
	rows := make([]string, 0, len(states.Names)+2)
	for _, s := range states.Names {
		mark := ""
		if slices.Contains(counts.Estimated, s) {
			mark = "~"
		}
		rows = append(rows, fmt.Sprintf("%s\t%s%d", s, mark, counts.Jobs[s]))
		if s == states.NameEnqueued {
			rows = append(rows, fmt.Sprintf("  held\t%d", counts.Held), fmt.Sprintf("  ready\t%d", counts.Ready()))
		}
	}
	head := "STATE\tJOBS"
	if queue != "" {
		head += " IN " + queue
	}
	e.table(head, rows)
	fmt.Fprintln(e.stdout)
	e.queueTable(qs, u)
	fmt.Fprintln(e.stdout)
	rows = make([]string, len(outcomes))
	for i, o := range outcomes {
		rows[i] = fmt.Sprintf("last %s\t%d\t%d\t%d", o.Period, o.Succeeded, o.Failed, o.Deleted)
	}
	e.table("PERIOD\tSUCCEEDED\tFAILED\tDELETED", rows)
	return nil
}

var queuesCommand = &command{
	name: "queues", def: "list",
	help: `queues lists and pauses queues. A paused queue keeps its jobs, and no worker
fetches them until it is resumed; jobs already running finish. HELD counts the
enqueued jobs a full limit holds back now (see taskflow limits). SERVED says
NO WORKER for a queue whose jobs wait and that no live worker serves; the
tasks of waiting jobs that no live worker runs are listed below (among the
newest 1,000 enqueued and scheduled jobs).`,
	subs: []*command{
		{name: "list", summary: "List the queues that have jobs waiting or are paused, with their latency",
			define: withClient("queues list", func(ctx context.Context, e *env, c *taskflow.Client) error {
				qs, err := c.Queues(ctx)
				if err != nil {
					return err
				}
				u, err := unserved(ctx, c)
				if err != nil {
					return err
				}
				if e.json {
					return e.writeJSON(queuesOut(qs, u))
				}
				e.queueTable(qs, u)
				return nil
			})},
		{name: "pause", args: "QUEUE", summary: "Stop every worker from fetching jobs of QUEUE", define: defineSetPaused("pause")},
		{name: "resume", args: "QUEUE", summary: "Let workers fetch jobs of QUEUE again", define: defineSetPaused("resume")},
	},
}

func defineSetPaused(op string) func(*flag.FlagSet, *env) action {
	return func(fs *flag.FlagSet, e *env) action {
		e.dbFlags(fs)
		return func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErr("queues %s: want one queue name, got %d arguments", op, len(args))
			}
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			set := c.PauseQueue
			if op == "resume" {
				set = c.ResumeQueue
			}
			if err := set(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "queue %q %sd\n", args[0], op)
			return nil
		}
	}
}

var workersCommand = &command{
	name: "workers", summary: "List the live workers: heartbeat, queues and the jobs they run",
	help: `A worker is listed while it sends heartbeats; the others' watchdog removes
those that stop. RUNNING counts the jobs in state processing that it owns.`,
	define: withClient("workers", workers),
}

func workers(ctx context.Context, e *env, c *taskflow.Client) error {
	ws, err := c.Workers(ctx)
	if err != nil {
		return err
	}
	running, err := c.Jobs(ctx, taskflow.JobQuery{State: states.NameProcessing, Limit: -1})
	if err != nil {
		return err
	}
	type runningOut struct {
		ID        uuid.UUID `json:"id"`
		Task      string    `json:"task"`
		Queue     string    `json:"queue"`
		StartedAt time.Time `json:"started_at"`
	}
	byWorker := map[string][]runningOut{}
	for _, j := range running {
		if p, ok := j.State.(states.Processing); ok {
			byWorker[p.ServerID] = append(byWorker[p.ServerID], runningOut{j.ID, j.Task, j.Queue, p.StartedAt})
		}
	}
	if e.json {
		type workerOut struct {
			ID          string       `json:"id"`
			Host        string       `json:"host"`
			PID         int          `json:"pid"`
			Queues      []string     `json:"queues"`
			Concurrency int          `json:"concurrency"`
			Tasks       []string     `json:"tasks"` // null: the worker does not say
			StartedAt   time.Time    `json:"started_at,omitzero"`
			HeartbeatAt time.Time    `json:"heartbeat_at"`
			Running     []runningOut `json:"running"`
		}
		out := make([]workerOut, len(ws))
		for i, w := range ws {
			out[i] = workerOut{w.ID, w.Host, w.PID, w.Queues, w.Concurrency, w.Tasks, w.StartedAt, w.HeartbeatAt, byWorker[w.ID]}
			if out[i].Running == nil {
				out[i].Running = []runningOut{}
			}
		}
		return e.writeJSON(out)
	}
	if len(ws) == 0 {
		fmt.Fprintln(e.stdout, "no live worker")
		return nil
	}
	rows := make([]string, len(ws))
	var jobs []string
	for i, w := range ws {
		rows[i] = fmt.Sprintf("%s\t%s\t%d\t%s\t%d\t%s\t%s\t%d", w.ID, w.Host, w.PID, strings.Join(w.Queues, ","),
			w.Concurrency, ago(w.StartedAt), ago(w.HeartbeatAt), len(byWorker[w.ID]))
		for _, j := range byWorker[w.ID] {
			jobs = append(jobs, fmt.Sprintf("%s\t%s\t%s\t%s\t%s", j.ID, j.Task, j.Queue, w.ID, ago(j.StartedAt)))
		}
	}
	e.table("ID\tHOST\tPID\tQUEUES\tCONCURRENCY\tSTARTED\tHEARTBEAT\tRUNNING", rows)
	if len(jobs) > 0 {
		fmt.Fprintln(e.stdout)
		e.table("RUNNING JOB\tTASK\tQUEUE\tWORKER\tSTARTED", jobs)
	}
	return nil
}
