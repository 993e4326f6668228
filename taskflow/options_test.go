package taskflow_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMisusedOptionsDoNotCompile builds the programs under
// testdata/misuse: each misuses the API (an option where it does not apply,
// a string for a continuation condition, a non-filter for a filter, a
// removed name) and must fail to compile, naming what it lacks; "ok" uses
// every kind where it applies and must compile.
func TestMisusedOptionsDoNotCompile(t *testing.T) {
	t.Parallel()
	goTool := "go" // found on PATH, as for the go test that runs this
	tests := []struct {
		dir  string
		want string // empty: it compiles
	}{
		{"ok", ""},
		{"delay_on_task", "does not implement taskflow.TaskOption"},
		{"maxretries_on_enqueue", "does not implement taskflow.JobOption"},
		{"continueon_on_enqueue", "does not implement taskflow.JobOption"},
		{"timezone_on_enqueue", "does not implement taskflow.JobOption"},
		{"delay_on_continuation", "does not implement taskflow.ContinuationOption"},
		{"runat_on_recurring", "does not implement taskflow.RecurringOption"},
		{"retry_on_recurring", "does not implement taskflow.RecurringOption"},
		{"continueon_string", "cannot use cond (variable of type string) as states.Condition value"},
		{"withfilters_not_a_filter", "does not implement filters.Filter"},
		{"filter_without_defaults", "missing method IsFilter"},
		{"retry_attempts", "unknown field Attempts"},
		{"isfinal", "has no field or method IsFinal"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(goTool, "build", "-o", filepath.Join(t.TempDir(), "bin"), "./testdata/misuse/"+tt.dir).CombinedOutput()
			if tt.want == "" {
				require.NoError(t, err, "%s", out)
				return
			}
			require.Error(t, err, "it compiled")
			require.Contains(t, string(out), tt.want)
		})
	}
}
