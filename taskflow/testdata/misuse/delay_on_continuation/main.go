// A continuation runs when its parent finishes: it cannot be delayed.
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

func use(ctx context.Context, c *taskflow.Client, p uuid.UUID) {
	_, _ = task.On(c).ContinueWith(ctx, p, 1, taskflow.Delay(time.Second))
}

var (
	_ = time.Second
	_ uuid.UUID
	_ = filters.NoRetry
	_ = context.Background
)

func main() {}
