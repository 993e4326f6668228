// WithFilters takes filters only.
package main

import (
	"context"

	"github.com/taskflow-go/taskflow/taskflow"
)

func work(context.Context, int) (int, error) { return 0, nil }

var _ = taskflow.NewTask("t", work, taskflow.WithFilters(42))

func main() {}
