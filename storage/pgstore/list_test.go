package pgstore

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// TestListStateIsALiteral: List names the state as a literal in every
// query it makes, never as a parameter, which the generic plan of a
// prepared statement could not match to the state's partial index.
func TestListStateIsALiteral(t *testing.T) {
	s := New(nil, Schema("s"))
	param := regexp.MustCompile(`state = \$`)
	for _, st := range states.Names {
		for _, p := range []storage.ListParams{
			{State: st, Limit: 20},
			{State: st, Task: "t", Limit: 20, Cursor: "0.0.00000000-0000-0000-0000-000000000001"},
			{State: st, Queue: "q", Limit: 20, Backward: true},
		} {
			for _, window := range []bool{true, false} {
				sql, _, err := s.listQuery(&p, window)
				require.NoError(t, err)
				require.Contains(t, sql, "state = '"+string(st)+"'", "%+v", p)
				require.NotRegexp(t, param, sql, "%+v", p)
			}
		}
	}
}
