package taskflowotel_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkSDKSpanFloor measures what the OpenTelemetry SDK alone costs
// per job, before taskflow does anything: a producer span started and
// ended at enqueue, and a consumer span started at the attempt under the
// carried parent. It is the least tracing can add to a job, to compare
// with a no-op job's CPU in BenchmarkEndToEnd (package taskflow).
func BenchmarkSDKSpanFloor(b *testing.B) {
	remote := func(sampled bool) context.Context {
		cfg := trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, Remote: true}
		if sampled {
			cfg.TraceFlags = trace.FlagsSampled
		}
		return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(cfg))
	}
	cases := []struct {
		name    string
		sampler sdktrace.Sampler
		ctx     context.Context
	}{
		{"root, 1% sampled", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)), context.Background()},
		{"root, never sampled", sdktrace.NeverSample(), context.Background()},
		{"root, always sampled", sdktrace.AlwaysSample(), context.Background()},
		{"remote parent not sampled", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)), remote(false)},
		{"remote parent sampled", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)), remote(true)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(tc.sampler))
			defer func() { _ = tp.Shutdown(context.Background()) }()
			tracer := tp.Tracer("floor")
			b.ReportAllocs()
			for b.Loop() {
				_, span := tracer.Start(tc.ctx, "noop send", trace.WithSpanKind(trace.SpanKindProducer))
				span.End()
			}
		})
	}
}
