package taskflowprom_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskflow-go/taskflow/internal/benchrig"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowprom"
)

// BenchmarkEndToEndMetrics is taskflow's BenchmarkEndToEnd with events
// read by the Prometheus collector.
func BenchmarkEndToEndMetrics(b *testing.B) {
	hub := taskflow.NewEvents()
	collector := taskflowprom.New(hub, taskflowprom.Options{})
	defer collector.Close()
	prometheus.NewRegistry().MustRegister(collector)
	benchrig.EndToEnd(b, hub)
}
