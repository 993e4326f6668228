// TimeZone applies to recurring definitions only.
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

func use(ctx context.Context) { _, _ = task.Enqueue(ctx, 1, taskflow.TimeZone("Europe/Berlin")) }

var (
	_ = time.Second
	_ uuid.UUID
	_ = filters.NoRetry
	_ = context.Background
)

func main() {}
