package integrationtest_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/taskflow-go/taskflow/internal/benchrig"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowotel"
	"github.com/taskflow-go/taskflow/taskflow/taskflowprom"
)

// BenchmarkEndToEndObserved is taskflow's BenchmarkEndToEnd with every
// way to see inside on, events read by the
// Prometheus collector, and tracing (a span per enqueue and per attempt,
// no exporter), every trace sampled or 1% of them, as production tracing
// usually is.
func BenchmarkEndToEndObserved(b *testing.B) {
	for _, tc := range []struct {
		name    string
		sampler sdktrace.Sampler
	}{
		{"always", sdktrace.AlwaysSample()},
		{"sampled", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hub := taskflow.NewEvents()
			collector := taskflowprom.New(hub, taskflowprom.Options{})
			defer collector.Close()
			prometheus.NewRegistry().MustRegister(collector)
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(tc.sampler))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			benchrig.EndToEnd(b, hub, taskflowotel.New(taskflowotel.Options{TracerProvider: tp}))
		})
	}
}
