package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/taskflow-go/taskflow/taskflow"
)

var limitsCommand = &command{
	name: "limits", summary: "List the flow-control limits workers declared, and how much of each is in use",
	help: `Workers store their limits (TaskLimit, PartitionLimit, QueueLimits) when
they start; the worker started last wins. A partition limit is listed once
per partition with jobs enqueued or running. RUNNING counts the slots in
use; ENQUEUED the jobs of the scope waiting in their queue; HELD those of
them that wait on this limit (it is full, or its rate is spent until NEXT
START), as opposed to waiting for a worker.`,
	define: withClient("limits", limits),
}

func limits(ctx context.Context, e *env, c *taskflow.Client) error {
	ls, err := c.Limits(ctx)
	if err != nil {
		return err
	}
	if e.json {
		type limitOut struct {
			Scope       string    `json:"scope"`
			Name        string    `json:"name"`
			Partition   string    `json:"partition,omitempty"`
			Concurrency int       `json:"concurrency,omitempty"`
			Rate        int       `json:"rate,omitempty"`
			PerMS       float64   `json:"per_ms,omitempty"`
			Burst       int       `json:"burst,omitempty"`
			Running     int64     `json:"running"`
			Enqueued    int64     `json:"enqueued"`
			Held        int64     `json:"held"`
			NextStart   time.Time `json:"next_start,omitzero"`
		}
		out := make([]limitOut, len(ls))
		for i, l := range ls {
			out[i] = limitOut{l.Scope, l.Name, l.Partition, l.Limits.Concurrency, l.Limits.Rate,
				float64(l.Limits.Per) / float64(time.Millisecond), l.Limits.Burst, l.Running, l.Enqueued, l.Held, l.NextStart}
		}
		return e.writeJSON(out)
	}
	if len(ls) == 0 {
		fmt.Fprintln(e.stdout, "no limit declared")
		return nil
	}
	rows := make([]string, len(ls))
	for i, l := range ls {
		conc, rate, next := "-", "-", "-"
		if l.Limits.Concurrency > 0 {
			conc = strconv.Itoa(l.Limits.Concurrency)
		}
		if l.Limits.Rate > 0 {
			rate = fmt.Sprintf("%d/%v+%d", l.Limits.Rate, l.Limits.Per, l.Limits.Burst)
		}
		if !l.NextStart.IsZero() {
			next = time.Until(l.NextStart).Round(time.Millisecond).String()
		}
		part := l.Partition
		if part == "" {
			part = "-"
		}
		rows[i] = fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s", l.Scope, l.Name, part, conc, rate, l.Running, l.Enqueued, l.Held, next)
	}
	e.table("SCOPE\tNAME\tPARTITION\tCONCURRENCY\tRATE\tRUNNING\tENQUEUED\tHELD\tNEXT START", rows)
	return nil
}
