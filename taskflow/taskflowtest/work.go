package taskflowtest

import (
	"context"
	"time"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// WorkOptions configure Work. The zero value is valid.
type WorkOptions struct {
	// Options configure the fresh harness the job runs on: the registry
	// that holds the task (default taskflow.DefaultRegistry()), the
	// worker's filters and retry policy, the clock's start.
	Options
	// Attempt is the attempt the job runs as: 1 (the default) for its first
	// run. The earlier attempts are recorded as started and requeued, so
	// the job's history and the retry policy count them.
	Attempt int
	// Job holds the job's options, as given to Enqueue: taskflow.Param,
	// Queue, Priority, Timeout. A delay is refused: the job must be due.
	Job []taskflow.JobOption
}

// Worked is how the run of Work ended.
type Worked[Result any] struct {
	// Run holds the job's ID, task, queue, attempt and args, the state
	// stored when it ended and the task's error (Err).
	Run
	// Result is the task's result, when it succeeded.
	Result Result
	// Logs are what the task logged through taskflow.Logger; Progress is
	// what it last reported through taskflow.SetProgress (nil if nothing).
	Logs     []taskflow.LogRecord
	Progress *taskflow.Progress
}

// Work runs task on args once, as a worker would, and returns how it ended:
// the unit test of a task's function. It enqueues one job on a fresh
// Harness and runs it with RunNext, so the function gets a real job
// context (taskflow.JobFromContext gives its ID, attempt and parameters;
// taskflow.Logger and taskflow.SetProgress record into Worked) and runs
// inside the worker's and the task's filters and retry policy: Worked.State
// says what a worker would store (a failure that will be retried is
// Scheduled). Work fails the test if the job cannot be created, is not due,
// or the registry does not hold the task.
func Work[Args, Result any](ctx context.Context, t TB, task *taskflow.Task[Args, Result], args Args, opts WorkOptions) Worked[Result] {
	t.Helper()
	h := New(t, opts.Options)
	handle, err := task.On(h.Client).Enqueue(ctx, args, opts.Job...)
	if err != nil {
		fatalf(t, "enqueue a job of %q: %v", task.Name(), err)
	}
	info, err := handle.Job(ctx)
	if err != nil {
		fatalf(t, "%v", err)
	}
	if info.State.Name() != states.NameEnqueued {
		fatalf(t, "the job of %q is %s, not due: Work runs a job at once", task.Name(), info.State.Name())
	}
	for range opts.Attempt - 1 { // earlier attempts: started, then requeued
		_, err := h.Store.Fetch(ctx, &storage.FetchParams{Queues: []string{info.Queue}, Limit: 1, Owner: "taskflowtest-earlier",
			LeaseFor: time.Minute, Now: h.Clock.Now()})
		if err == nil {
			err = h.Client.Requeue(ctx, handle.ID)
		}
		if err != nil {
			fatalf(t, "recording an earlier attempt: %v", err)
		}
	}
	ran, ok := h.run(ctx, []string{info.Queue})
	if !ok {
		fatalf(t, "the job of %q was not due in queue %q (did a filter move it?)", task.Name(), info.Queue)
	}
	w := Worked[Result]{Run: Run{Ran: ran, At: h.Clock.Now()}}
	if _, ok := ran.State.(states.Succeeded); ok {
		if w.Result, err = handle.Result(ctx); err != nil {
			fatalf(t, "%v", err)
		}
	}
	if info, err = h.Client.Job(ctx, handle.ID); err != nil {
		fatalf(t, "%v", err)
	}
	w.Logs, w.Progress = info.Logs, info.Progress
	return w
}
