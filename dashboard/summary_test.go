package dashboard

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
)

// TestSummaryOfAFailure: a failed row shows its error's first line,
// clipped; the type has a column of its own.
func TestSummaryOfAFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		state states.Failed
		want  string
	}{
		{"Typed", states.Failed{ErrorType: "*net.OpError", ErrorMessage: "dial: refused"}, "dial: refused"},
		{"MultiLine", states.Failed{ErrorMessage: "first line\nsecond line"}, "first line …"},
		{"OnlyText", states.Failed{ErrorMessage: "card declined"}, "card declined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, summary(tt.state))
		})
	}
}
