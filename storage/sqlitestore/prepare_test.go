package sqlitestore

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/require"
)

// TestWriterStatementsStayPrepared: the writer's kept statements are not
// prepared again when their parameters are bound anew, as database/sql
// does at every run (a bare LIMIT ? would make SQLite do so).
func TestWriterStatementsStayPrepared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(context.Background(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	c, err := sqlite3.Open(path)
	require.NoError(t, err)
	defer c.Close()
	for _, tc := range []struct {
		name  string
		query string
		args  []any // by number, from ?1; the rest are bound to 0
	}{
		{"fetch", fetchSQL, []any{"default", int64(math.MinInt64), int64(math.MaxInt64), int64(100), nil, int64(1), "owner"}},
		{"move", moveSQL, []any{[]byte("0123456789abcdef"), int64(1), int64(0), "succeeded", "{}", ""}},
		{"leased moves", leasedSQL[len(leasedSQL)-2], []any{int64(1), []byte("0123456789abcdef"), int64(1), int64(1), "succeeded", "{}", ""}},
		{"leased moves sharing values", leasedSharedSQL[len(leasedSharedSQL)-2], []any{int64(1), int64(1), "succeeded", "", nil, nil, int64(0), "",
			"processing", nil, nil, nil, nil, nil, nil, []byte("0123456789abcdef"), int64(1), "{}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, err := c.Prepare(tc.query)
			require.NoError(t, err)
			defer st.Close()
			for range 3 {
				require.NoError(t, st.ClearBindings())
				for p := 1; p <= st.BindCount(); p++ {
					var a any = int64(0)
					if p <= len(tc.args) {
						a = tc.args[p-1]
					}
					switch v := a.(type) {
					case string:
						require.NoError(t, st.BindText(p, v))
					case []byte:
						require.NoError(t, st.BindBlob(p, v))
					case int64:
						require.NoError(t, st.BindInt64(p, v))
					default:
						require.NoError(t, st.BindNull(p))
					}
				}
				for st.Step() {
				}
				require.NoError(t, st.Err())
				require.NoError(t, st.Reset())
			}
			require.Zero(t, st.Status(sqlite3.STMTSTATUS_REPREPARE, false))
		})
	}
}
