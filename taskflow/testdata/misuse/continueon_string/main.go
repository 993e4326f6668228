// ContinueOn takes a states.Condition, not any string.
package main

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/taskflow"
)

func work(context.Context, int) (int, error) { return 0, nil }

var task = taskflow.NewTask("t", work)

func use(ctx context.Context, p uuid.UUID, cond string) {
	_, _ = task.ContinueWith(ctx, p, 1, taskflow.ContinueOn(cond))
}

func main() {}
