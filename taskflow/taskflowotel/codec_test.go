package taskflowotel

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TestTraceContextRoundTrip: the W3C fast path writes what the propagator
// would, and every path reads back the span context written.
func TestTraceContextRoundTrip(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	state, err := trace.ParseTraceState("vendor=opaque")
	require.NoError(t, err)
	span := func(flags trace.TraceFlags, ts trace.TraceState) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, TraceState: ts, Remote: true})
	}
	tests := []struct {
		name       string
		propagator propagation.TextMapPropagator
		sc         trace.SpanContext
	}{
		{"w3c sampled", propagation.TraceContext{}, span(trace.FlagsSampled, trace.TraceState{})},
		{"w3c not sampled", propagation.TraceContext{}, span(0, trace.TraceState{})},
		{"w3c with a trace state", propagation.TraceContext{}, span(trace.FlagsSampled, state)},
		{"another propagator", propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}), span(trace.FlagsSampled, trace.TraceState{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(Options{Propagator: tt.propagator})
			ctx := trace.ContextWithSpanContext(context.Background(), tt.sc)
			raw := tr.inject(ctx)
			carrier := propagation.MapCarrier{}
			tt.propagator.Inject(ctx, carrier)
			var got map[string]string
			require.NoError(t, json.Unmarshal(raw, &got))
			require.Equal(t, map[string]string(carrier), got, "what the propagator writes")
			require.Equal(t, tt.sc, trace.SpanContextFromContext(tr.extract(context.Background(), raw)))
			spaced := bytes.ReplaceAll(raw, []byte(`":"`), []byte(`": "`)) // as PostgreSQL's jsonb gives it back
			require.Equal(t, tt.sc, trace.SpanContextFromContext(tr.extract(context.Background(), spaced)))
		})
	}
	for _, bad := range []string{`{"traceparent":"00-zzzz2f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`, `[]`, `{`, ``} {
		require.False(t, trace.SpanContextFromContext(New(Options{}).extract(context.Background(), json.RawMessage(bad))).IsValid(), bad)
	}
	require.Nil(t, New(Options{}).inject(context.Background()), "no span, no parameter")
}
