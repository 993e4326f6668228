package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/taskflow"
)

var jobsCommand = &command{
	name: "jobs",
	help: "jobs lists, shows, requeues and deletes jobs.",
	subs: []*command{
		{name: "list", args: "[--state S] [--queue Q] [--task T] [--limit N]", summary: "List jobs, newest first",
			define: defineJobsList},
		{name: "show", args: "ID", summary: "Show a job: state, args, result, failure, history, logs and progress",
			define: defineJobsShow},
		{name: "requeue", args: "ID... | --state S [--queue Q] [--task T] [--yes]", summary: "Enqueue jobs again in their queue",
			help: `Requeues the jobs given by ID, or every job the selection matches (say,
--state failed --task send-email). A running job loses its lease and runs
again as a new attempt. A selection is confirmed on a terminal unless --yes is
given, and refused without --yes when stdin is not a terminal.`,
			define: defineJobsAction("requeue")},
		{name: "delete", args: "ID... | --state S [--queue Q] [--task T] [--yes]", summary: "Move jobs to deleted",
			help: `Deletes the jobs given by ID, or every job the selection matches. A running
job has its context cancelled. Deleted jobs expire after the retention period.
A selection is confirmed on a terminal unless --yes is given, and refused
without --yes when stdin is not a terminal.`,
			define: defineJobsAction("delete")},
	},
}

// selection is the --state, --queue and --task flags.
type selection struct {
	state, queue, task string
}

func (s *selection) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.state, "state", "", "only jobs in this `STATE`: "+stateNames())
	fs.StringVar(&s.queue, "queue", "", "only jobs of this `QUEUE`")
	fs.StringVar(&s.task, "task", "", "only jobs of this `TASK`")
}

func stateNames() string {
	n := make([]string, len(states.Names))
	for i, s := range states.Names {
		n[i] = string(s)
	}
	return strings.Join(n, ", ")
}

func (s *selection) empty() bool { return *s == selection{} }

// query returns the selection as a query, or a usage error naming a bad
// state or queue name.
func (s *selection) query(cmd string, limit int) (taskflow.JobQuery, error) {
	st := states.Name(s.state)
	if st != "" && !st.Valid() {
		return taskflow.JobQuery{}, usageErr("%s: unknown state %q: want one of %s", cmd, s.state, stateNames())
	}
	if err := validQueue(cmd, s.queue); err != nil {
		return taskflow.JobQuery{}, err
	}
	return taskflow.JobQuery{State: st, Queue: s.queue, Task: s.task, Limit: limit}, nil
}

// validQueue returns a usage error unless queue, given to --queue, is empty
// or a valid queue name.
func validQueue(cmd, queue string) error {
	if queue == "" {
		return nil
	}
	if err := taskflow.ValidateQueue(queue); err != nil {
		return usageErr("%s: --queue: %v", cmd, err)
	}
	return nil
}

func (s *selection) String() string {
	var p []string
	for _, f := range []struct{ name, v string }{{"state", s.state}, {"queue", s.queue}, {"task", s.task}} {
		if f.v != "" {
			p = append(p, f.name+" "+f.v)
		}
	}
	return strings.Join(p, ", ")
}

// jobOut is a job as --json prints it. List leaves out what only show has.
type jobOut struct {
	ID        uuid.UUID                  `json:"id"`
	Task      string                     `json:"task"`
	Queue     string                     `json:"queue"`
	Priority  int                        `json:"priority"`
	State     states.Name                `json:"state"`
	Reason    string                     `json:"reason,omitempty"`
	Error     string                     `json:"error,omitempty"` // a failed job's
	Attempt   int                        `json:"attempt"`
	CreatedAt time.Time                  `json:"created_at"`
	UpdatedAt time.Time                  `json:"updated_at"`
	ExpireAt  time.Time                  `json:"expire_at,omitzero"`
	BatchID   uuid.UUID                  `json:"batch_id,omitzero"`
	ParentID  uuid.UUID                  `json:"parent_id,omitzero"`
	Args      json.RawMessage            `json:"args,omitempty"`
	Params    map[string]json.RawMessage `json:"params,omitempty"`
	// StateData is the current state's data: the result of a succeeded job,
	// the error of a failed one, and so on.
	StateData states.State `json:"state_data,omitempty"`
	History   []historyOut `json:"history,omitempty"`
	Logs      []logOut     `json:"logs,omitempty"`
	Progress  *progressOut `json:"progress,omitempty"`
}

type logOut struct {
	Attempt int             `json:"attempt"`
	At      time.Time       `json:"at"`
	Level   string          `json:"level"`
	Message string          `json:"message"`
	Attrs   json.RawMessage `json:"attrs,omitempty"`
}

type progressOut struct {
	Attempt int       `json:"attempt"`
	Percent int       `json:"percent"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

type historyOut struct {
	State  states.Name  `json:"state"`
	At     time.Time    `json:"at"`
	Reason string       `json:"reason,omitempty"`
	Data   states.State `json:"data"`
}

func newJobOut(j *taskflow.JobInfo, full bool) jobOut {
	o := jobOut{ID: j.ID, Task: j.Task, Queue: j.Queue, Priority: j.Priority, State: j.State.Name(), Reason: j.State.Why(),
		Attempt: j.Attempt, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, ExpireAt: j.ExpireAt, BatchID: j.BatchID, ParentID: j.ParentID}
	if f, ok := j.State.(states.Failed); ok {
		o.Error = f.ErrorMessage
	}
	if !full {
		return o
	}
	o.Args, o.Params, o.StateData = rawJSON(j.Args), j.Params, j.State
	for _, l := range j.Logs {
		o.Logs = append(o.Logs, logOut(l))
	}
	if p := j.Progress; p != nil {
		o.Progress = &progressOut{p.Attempt, p.Percent, p.Message, p.At}
	}
	for _, h := range j.History {
		o.History = append(o.History, historyOut{h.State.Name(), h.At, h.State.Why(), h.State})
	}
	return o
}

// rawJSON returns b as JSON: itself when it is JSON (the default codec), a
// JSON string otherwise.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

func defineJobsList(fs *flag.FlagSet, e *env) action {
	e.commonFlags(fs)
	var sel selection
	sel.flags(fs)
	limit := fs.Int("limit", taskflow.DefaultJobsLimit, "list at most `N` jobs")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("jobs list", args); err != nil {
			return err
		}
		if *limit <= 0 {
			return usageErr("jobs list: --limit must be positive")
		}
		q, err := sel.query("jobs list", *limit)
		if err != nil {
			return err
		}
		c, err := e.client(ctx)
		if err != nil {
			return err
		}
		jobs, err := c.Jobs(ctx, q)
		if err != nil {
			return err
		}
		if len(jobs) == *limit && !e.json {
			fmt.Fprintf(e.stderr, "the newest %s; pass --limit for more\n", count(*limit, "job"))
		}
		return e.jobsTable(jobs)
	}
}

// jobsTable prints jobs as a table, or as JSON with --json.
func (e *env) jobsTable(jobs []*taskflow.JobInfo) error {
	if e.json {
		out := make([]jobOut, len(jobs))
		for i, j := range jobs {
			out[i] = newJobOut(j, false)
		}
		return e.writeJSON(out)
	}
	if len(jobs) == 0 {
		fmt.Fprintln(e.stdout, "no jobs")
		return nil
	}
	rows := make([]string, len(jobs))
	for i, j := range jobs {
		rows[i] = fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s\t%s", j.ID, j.Task, j.Queue, j.State.Name(), j.Attempt, ago(j.UpdatedAt), oneLine(detail(j.State), 60))
	}
	e.table("ID\tTASK\tQUEUE\tSTATE\tATTEMPT\tUPDATED\tDETAIL", rows)
	return nil
}

// detail is what a list shows of a state: a failed job's error, another's
// reason.
func detail(st states.State) string {
	if f, ok := st.(states.Failed); ok && f.ErrorMessage != "" {
		return f.ErrorMessage
	}
	return st.Why()
}

// count formats n things: "1 job", "2 jobs".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// oneLine shortens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		s, cut = string(r[:n-1]), true
	}
	if cut {
		s += "…"
	}
	return s
}

// oneID parses args as one job or batch ID.
func oneID(cmd, what string, args []string) (uuid.UUID, error) {
	if len(args) != 1 {
		return uuid.Nil, usageErr("%s: want one %s ID, got %d arguments", cmd, what, len(args))
	}
	return parseID(cmd, what, args[0])
}

// parseID parses a job or batch ID, or returns a usage error naming it.
func parseID(cmd, what, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, usageErr("%s: bad %s ID %q: want a UUID such as 0190f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6", cmd, what, s)
	}
	return id, nil
}

// notFound replaces err by a short message naming what is unknown when it
// is taskflow.ErrNotFound.
func notFound(err error, what string, id any) error {
	if errors.Is(err, taskflow.ErrNotFound) {
		return fmt.Errorf("%s %v not found", what, id)
	}
	return err
}

func defineJobsShow(fs *flag.FlagSet, e *env) action {
	e.commonFlags(fs)
	return func(ctx context.Context, args []string) error {
		id, err := oneID("jobs show", "job", args)
		if err != nil {
			return err
		}
		c, err := e.client(ctx)
		if err != nil {
			return err
		}
		j, err := c.Job(ctx, id)
		if err != nil {
			return notFound(err, "job", id)
		}
		if e.json {
			return e.writeJSON(newJobOut(j, true))
		}
		e.showJob(j)
		return nil
	}
}

// showJob prints every part of j for a person.
func (e *env) showJob(j *taskflow.JobInfo) {
	w := e.stdout
	field := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%-10s "+format+"\n", append([]any{name + ":"}, args...)...)
	}
	field("ID", "%s", j.ID)
	field("Task", "%s", j.Task)
	field("Queue", "%s (priority %d)", j.Queue, j.Priority)
	st := string(j.State.Name())
	if r := j.State.Why(); r != "" {
		st += " (" + r + ")"
	}
	field("State", "%s", st)
	field("Attempt", "%d", j.Attempt)
	field("Created", "%s", stamp(j.CreatedAt))
	field("Updated", "%s", stamp(j.UpdatedAt))
	if !j.ExpireAt.IsZero() {
		field("Expires", "%s", stamp(j.ExpireAt))
	}
	if j.BatchID != uuid.Nil {
		field("Batch", "%s", j.BatchID)
	}
	if j.ParentID != uuid.Nil {
		field("Parent", "%s", j.ParentID)
	}
	field("Args", "%s", rawJSON(j.Args))
	for k, v := range j.Params {
		field("Param", "%s = %s", k, v)
	}
	switch s := j.State.(type) {
	case states.Succeeded:
		field("Result", "%s", orDash(string(rawJSON(s.Result))))
		field("Duration", "%s (waited %s)", round(s.Duration), round(s.Latency))
	case states.Failed:
		field("Failure", "%s", orDash(strings.TrimSpace(s.ErrorType+" "+s.ErrorMessage)))
		if s.ErrorCode != "" {
			field("Code", "%s", s.ErrorCode)
		}
		if s.ErrorDetails != "" {
			fmt.Fprintf(w, "%s\n", indent(s.ErrorDetails))
		}
	case states.Scheduled:
		field("Runs", "%s", stamp(s.EnqueueAt))
	case states.Processing:
		field("Worker", "%s, since %s", s.ServerID, stamp(s.StartedAt))
	case states.Awaiting:
		field("Awaits", "%s (on %s)", s.ParentID, orDash(string(s.On)))
	}
	if p := j.Progress; p != nil {
		field("Progress", "%d%% %s (attempt %d, %s)", p.Percent, p.Message, p.Attempt, ago(p.At))
	}
	fmt.Fprintln(w, "\nHistory:")
	rows := make([]string, len(j.History))
	for i, h := range j.History {
		rows[i] = fmt.Sprintf("  %s\t%s\t%s", h.At.Local().Format(time.DateTime+".000"), h.State.Name(), oneLine(h.State.Why(), 80))
	}
	e.table("  AT\tSTATE\tREASON", rows)
	if len(j.Logs) > 0 {
		fmt.Fprintln(w, "\nLogs:")
		rows = make([]string, len(j.Logs))
		for i, l := range j.Logs {
			rows[i] = fmt.Sprintf("  %s\t%d\t%s\t%s %s", l.At.Local().Format(time.DateTime+".000"), l.Attempt, l.Level, l.Message, l.Attrs)
		}
		e.table("  AT\tATTEMPT\tLEVEL\tMESSAGE", rows)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// defineJobsAction defines jobs requeue and jobs delete.
func defineJobsAction(op string) func(*flag.FlagSet, *env) action {
	return func(fs *flag.FlagSet, e *env) action {
		e.commonFlags(fs)
		var sel selection
		sel.flags(fs)
		yes := fs.Bool("yes", false, "do not ask for confirmation of a selection")
		cmd := "jobs " + op
		return func(ctx context.Context, args []string) error {
			ids := make([]uuid.UUID, len(args))
			for i, a := range args {
				id, err := parseID(cmd, "job", a)
				if err != nil {
					return err
				}
				ids[i] = id
			}
			switch {
			case len(ids) == 0 && sel.empty():
				return usageErr("%s: want job IDs or a selection (--state, --queue, --task)", cmd)
			case len(ids) > 0 && !sel.empty():
				return usageErr("%s: want job IDs or a selection, not both", cmd)
			}
			q, err := sel.query(cmd, -1)
			if err != nil {
				return err
			}
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				jobs, err := c.Jobs(ctx, q)
				if err != nil {
					return err
				}
				for _, j := range jobs {
					ids = append(ids, j.ID)
				}
				if len(ids) > 0 && !*yes {
					ok, err := e.confirm(fmt.Sprintf("%s %s (%s)?", op, count(len(ids), "job"), &sel))
					if err != nil {
						return err
					}
					if !ok {
						return fmt.Errorf("%s: not confirmed; nothing changed", cmd)
					}
				}
			}
			return e.applyToJobs(ctx, c, op, ids)
		}
	}
}

// applyToJobs requeues or deletes each of ids (up to 1,000 in one store
// call), going on after a job that cannot be changed, and reports each in
// the order given; it fails if any did.
func (e *env) applyToJobs(ctx context.Context, c *taskflow.Client, op string, ids []uuid.UUID) error {
	act := c.RequeueMany
	if op == "delete" {
		act = c.DeleteMany
	}
	errs, _ := act(ctx, ids) // a store failure is also in place of each job it left unchanged
	if ctx.Err() != nil {
		return ctx.Err()
	}
	type failure struct {
		ID    uuid.UUID `json:"id"`
		Error string    `json:"error"`
	}
	out := struct {
		Done   []uuid.UUID `json:"done"`
		Failed []failure   `json:"failed"`
	}{Done: []uuid.UUID{}, Failed: []failure{}}
	var failed []error
	for i, id := range ids {
		if err := errs[i]; err != nil {
			err = notFound(err, "job", id)
			failed = append(failed, err)
			out.Failed = append(out.Failed, failure{id, err.Error()})
			continue
		}
		out.Done = append(out.Done, id)
	}
	past := map[string]string{"requeue": "requeued", "delete": "deleted"}[op]
	if e.json {
		if err := e.writeJSON(out); err != nil {
			return err
		}
	} else {
		for _, id := range out.Done {
			fmt.Fprintf(e.stdout, "%s %s\n", past, id)
		}
		if len(ids) == 0 {
			fmt.Fprintln(e.stdout, "no jobs match")
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s %d of %s, %d failed: %w", past, len(out.Done), count(len(ids), "job"), len(failed), errors.Join(failed...))
	}
	return nil
}

var batchCommand = &command{
	name: "batch",
	help: "batch shows a batch's progress and jobs.",
	subs: []*command{{name: "show", args: "ID [--limit N]", summary: "Show a batch: its jobs by outcome, and the jobs themselves",
		define: func(fs *flag.FlagSet, e *env) action {
			e.commonFlags(fs)
			limit := fs.Int("limit", taskflow.DefaultJobsLimit, "list at most `N` of its jobs")
			return func(ctx context.Context, args []string) error {
				id, err := oneID("batch show", "batch", args)
				if err != nil {
					return err
				}
				c, err := e.client(ctx)
				if err != nil {
					return err
				}
				p, err := c.BatchProgress(ctx, id)
				if err == nil && p.Total == 0 {
					err = taskflow.ErrNotFound
				}
				if err != nil {
					return notFound(err, "batch", id)
				}
				jobs, err := c.Jobs(ctx, taskflow.JobQuery{BatchID: id, Limit: max(*limit, 1)})
				if err != nil {
					return err
				}
				if e.json {
					out := struct {
						ID        uuid.UUID `json:"id"`
						Total     int       `json:"total"`
						Succeeded int       `json:"succeeded"`
						Failed    int       `json:"failed"`
						Deleted   int       `json:"deleted"`
						Pending   int       `json:"pending"`
						Done      bool      `json:"done"`
						Jobs      []jobOut  `json:"jobs"`
					}{id, p.Total, p.Succeeded, p.Failed, p.Deleted, p.Pending, p.Done(), make([]jobOut, len(jobs))}
					for i, j := range jobs {
						out.Jobs[i] = newJobOut(j, false)
					}
					return e.writeJSON(out)
				}
				fmt.Fprintf(e.stdout, "Batch %s: %s, %d succeeded, %d failed, %d deleted, %d pending", id, count(p.Total, "job"), p.Succeeded, p.Failed, p.Deleted, p.Pending)
				if p.Done() {
					fmt.Fprint(e.stdout, " (done)")
				}
				fmt.Fprint(e.stdout, "\n\n")
				return e.jobsTable(jobs)
			}
		}}},
}
