// Every option where it applies: this one compiles.
package main

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/taskflow"
)

func work(context.Context, int) (int, error) { return 0, nil }

var task = taskflow.NewTask("t", work)

var _ = taskflow.NewTask("t2", work, taskflow.Queue("q"), taskflow.MaxRetries(2), taskflow.Timeout(time.Minute), taskflow.WithRetry(filters.NoRetry))

func use(ctx context.Context, c *taskflow.Client, p uuid.UUID) {
	_, _ = task.Enqueue(ctx, 1, taskflow.Delay(time.Second), taskflow.Queue("q"), taskflow.Unique("k"))
	_, _ = task.On(c).ContinueWith(ctx, p, 1, taskflow.ContinueOn("failure"), taskflow.Priority(2))
	_ = task.AddRecurring(ctx, "id", "@daily", 1, taskflow.TimeZone("UTC"), taskflow.Misfire("skip"), taskflow.Param("k", 1))
}

var (
	_ = time.Second
	_ uuid.UUID
	_ = filters.NoRetry
	_ = context.Background
)

func main() {}
