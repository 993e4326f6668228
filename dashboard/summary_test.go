package dashboard

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
)

// TestSummaryOfAFailure: a failure names its error's type when it has one,
// and is its message alone when the error is only text.
func TestSummaryOfAFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		state states.Failed
		want  string
	}{
		{"Typed", states.Failed{ErrorType: "*net.OpError", ErrorMessage: "dial: refused"}, "*net.OpError: dial: refused"},
		{"OnlyText", states.Failed{ErrorMessage: "card declined"}, "card declined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, summary(tt.state))
		})
	}
}
