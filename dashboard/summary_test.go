package dashboard

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
)

// TestSummaryOfAFailure: a failure is summed up by the first line of its
// message, never a leading colon; the list shows the error's type apart.
func TestSummaryOfAFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		state states.Failed
		want  string
	}{
		{"Typed", states.Failed{ErrorType: "*net.OpError", ErrorMessage: "dial: refused"}, "dial: refused"},
		{"OnlyText", states.Failed{ErrorMessage: "card declined"}, "card declined"},
		{"Lines", states.Failed{ErrorMessage: "card declined\ncode 51"}, "card declined …"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, summary(tt.state))
		})
	}
}
