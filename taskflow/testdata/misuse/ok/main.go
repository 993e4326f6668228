// Every option where it applies, and every method of a task value: this one
// compiles.
package main

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/taskflow"
)

func work(context.Context, int) (int, error) { return 0, nil }

var task = taskflow.NewTask("t", work)

// audit is a filter: it embeds filters.Defaults.
type audit struct{ filters.Defaults }

func (audit) OnStateApplied(context.Context, *filters.ApplyStateContext) {}

var _ = taskflow.NewTask("t2", work, taskflow.Queue("q"), taskflow.MaxRetries(2), taskflow.Timeout(time.Minute),
	taskflow.WithRetry(filters.Retry{MaxRetries: 3}), taskflow.WithFilters(audit{}))

var _ = taskflow.WorkerOptions{Filters: []filters.Filter{audit{}, filters.DefaultRetry}}

func use(ctx context.Context, c *taskflow.Client, p uuid.UUID) {
	_, _ = task.Enqueue(ctx, 1, taskflow.Delay(time.Second), taskflow.Queue("q"), taskflow.Unique("k"))
	_, _ = task.On(c).ContinueWith(ctx, p, 1, taskflow.ContinueOn(states.OnFailure), taskflow.Priority(2))
	_, _ = task.ContinueWith(ctx, p, 1, taskflow.ContinueOn(states.OnFinish))
	_, _ = task.EnqueueBatch(ctx, []int{1, 2})
	_, _ = task.Handle(p).Wait(ctx)
	_ = task.AddRecurring(ctx, "id", "@daily", 1, taskflow.TimeZone("UTC"), taskflow.Misfire("skip"), taskflow.Param("k", 1))
	_ = states.NameFailed.Finished()
}

func main() {}
