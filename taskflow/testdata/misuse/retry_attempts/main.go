// Retry counts retries in MaxRetries, where 0 means none, as
// taskflow.MaxRetries does; the old Attempts, where 0 meant 10, is gone.
package main

import (
	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/taskflow"
)

var _ = taskflow.WithRetry(filters.Retry{Attempts: 3})

func main() {}
