package pgstore

import (
	"context"
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
				require.Regexp(t, "state = E?'"+string(st)+"'", sql, "%+v", p)
				require.NotRegexp(t, param, sql, "%+v", p)
			}
		}
	}
}

// TestLiteralKeepsItsValue: a value quoted by literal reads back as itself
// whatever standard_conforming_strings says, so none can end the literal
// early and add SQL of its own.
func TestLiteralKeepsItsValue(t *testing.T) {
	ctx := context.Background()
	conn, err := testPool(t).Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for _, setting := range []string{"on", "off"} {
		_, err := conn.Exec(ctx, "SET standard_conforming_strings = "+setting)
		require.NoError(t, err)
		for _, v := range []string{"default", "it's", `\' OR true --`, `\`, `a\`, `'; SELECT 1; --`, "\n"} {
			var got string
			require.NoError(t, conn.QueryRow(ctx, "SELECT "+literal(v)).Scan(&got), "%s: %q", setting, v)
			require.Equal(t, v, got, "standard_conforming_strings=%s", setting)
		}
	}
	_, err = conn.Exec(ctx, "RESET standard_conforming_strings")
	require.NoError(t, err)
}
