// WithRetry is a task's policy, not a recurring definition's.
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

func use(ctx context.Context) {
	_ = task.AddRecurring(ctx, "id", "@daily", 1, taskflow.WithRetry(filters.NoRetry))
}

var (
	_ = time.Second
	_ uuid.UUID
	_ = filters.NoRetry
	_ = context.Background
)

func main() {}
