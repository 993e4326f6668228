package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/taskflow"
)

var recurringCommand = &command{
	name: "recurring", def: "list",
	help: `recurring lists and controls recurring jobs, the cron definitions that
spawn a job at each occurrence.`,
	subs: []*command{
		{name: "list", summary: "List the recurring jobs with their schedule", define: withClient("recurring list", recurringList)},
		{name: "trigger", args: "ID", summary: "Enqueue a job of recurring job ID now, without changing its schedule",
			define: defineRecurring("trigger")},
		{name: "pause", args: "ID", summary: "Stop recurring job ID from firing until resumed", define: defineRecurring("pause")},
		{name: "resume", args: "ID", summary: "Let recurring job ID fire again, from its next occurrence",
			define: defineRecurring("resume")},
		{name: "remove", args: "ID", summary: "Delete recurring job ID; the jobs it spawned stay", define: defineRecurring("remove")},
	},
}

func recurringList(ctx context.Context, e *env, c *taskflow.Client) error {
	defs, err := c.RecurringJobs(ctx)
	if err != nil {
		return err
	}
	if e.json {
		type recurringOut struct {
			ID        string          `json:"id"`
			Task      string          `json:"task"`
			Spec      string          `json:"spec"`
			TimeZone  string          `json:"time_zone,omitempty"`
			Queue     string          `json:"queue"`
			Args      json.RawMessage `json:"args,omitempty"`
			Misfire   string          `json:"misfire,omitempty"`
			Paused    bool            `json:"paused"`
			NextRun   time.Time       `json:"next_run,omitzero"`
			LastRun   time.Time       `json:"last_run,omitzero"`
			LastJobID uuid.UUID       `json:"last_job_id,omitzero"`
		}
		out := make([]recurringOut, len(defs))
		for i, d := range defs {
			out[i] = recurringOut{d.ID, d.Task, d.Spec, d.TimeZone, d.Queue, rawJSON(d.Args), string(d.Misfire), d.Paused,
				d.NextRun, d.LastRun, d.LastJobID}
		}
		return e.writeJSON(out)
	}
	if len(defs) == 0 {
		fmt.Fprintln(e.stdout, "no recurring jobs")
		return nil
	}
	rows := make([]string, len(defs))
	for i, d := range defs {
		spec := d.Spec
		if d.TimeZone != "" {
			spec += " " + d.TimeZone
		}
		next := ago(d.NextRun)
		if d.Paused {
			next = "paused"
		}
		rows[i] = fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", d.ID, d.Task, spec, d.Queue, next, ago(d.LastRun))
	}
	e.table("ID\tTASK\tSCHEDULE\tQUEUE\tNEXT\tLAST", rows)
	return nil
}

func defineRecurring(op string) func(*flag.FlagSet, *env) action {
	return func(fs *flag.FlagSet, e *env) action {
		e.dbFlags(fs)
		return func(ctx context.Context, args []string) error {
			if len(args) != 1 {
				return usageErr("recurring %s: want one recurring job ID, got %d arguments", op, len(args))
			}
			id := args[0]
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			var job uuid.UUID
			switch op {
			case "trigger":
				job, err = c.TriggerRecurring(ctx, id)
			case "pause":
				err = c.PauseRecurring(ctx, id)
			case "resume":
				err = c.ResumeRecurring(ctx, id)
			default:
				err = c.RemoveRecurring(ctx, id)
			}
			if err != nil {
				return notFound(err, "recurring job", fmt.Sprintf("%q", id))
			}
			if op == "trigger" {
				fmt.Fprintf(e.stdout, "recurring job %q triggered: job %s\n", id, job)
				return nil
			}
			fmt.Fprintf(e.stdout, "recurring job %q %s\n", id, map[string]string{"pause": "paused", "resume": "resumed", "remove": "removed"}[op])
			return nil
		}
	}
}
