package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowotel"
	"github.com/taskflow-go/taskflow/taskflow/taskflowprom"
)

// observed is everything bench -observe turns on: an event hub read by the
// Prometheus collector and by OpenTelemetry metrics, and tracing with a
// share of the traces sampled. Nothing is exported: the cost measured is
// taskflow's and the SDKs'.
type observed struct {
	hub     *taskflow.Events
	filters []filters.Filter
	close   func()
}

func observe(sample float64, client *taskflow.Client) (*observed, error) {
	hub := taskflow.NewEvents()
	collector := taskflowprom.New(hub, taskflowprom.Options{Client: client})
	prometheus.NewRegistry().MustRegister(collector)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	metrics, err := taskflowotel.NewMetrics(hub, taskflowotel.MetricsOptions{MeterProvider: mp, Client: client})
	if err != nil {
		collector.Close()
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sample))))
	return &observed{
		hub:     hub,
		filters: []filters.Filter{taskflowotel.New(taskflowotel.Options{TracerProvider: tp})},
		close: func() {
			metrics.Close()
			collector.Close()
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		},
	}, nil
}
