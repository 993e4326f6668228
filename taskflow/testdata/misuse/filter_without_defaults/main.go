// A filter type embeds filters.Defaults.
package main

import (
	"context"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/taskflow"
)

type audit struct{}

func (audit) OnStateApplied(context.Context, *filters.ApplyStateContext) {}

var _ = taskflow.WorkerOptions{Filters: []filters.Filter{audit{}}}

func main() {}
