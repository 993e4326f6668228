// Delay applies to one call's jobs, not to a task.
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

var _ = taskflow.NewTask("t", work, taskflow.Delay(time.Second))

var (
	_ = time.Second
	_ uuid.UUID
	_ = filters.NoRetry
	_ = context.Background
)

func main() {}
