package pgstore

import (
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// TestOpenByURL: a postgres:// URL opens a store on its own pool, in the
// schema its query names.
func TestOpenByURL(t *testing.T) {
	pool := testPool(t)
	schema := newSchema(t, pool)
	ctx := testCtx(t)
	require.NoError(t, Migrate(ctx, pool, Schema(schema)))
	u, err := url.Parse(os.Getenv("TASKFLOW_TEST_DATABASE_URL"))
	require.NoError(t, err)
	q := u.Query()
	q.Set("schema", schema)
	u.RawQuery = q.Encode()

	s, err := storage.Open(ctx, u.String())
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, schema, s.(pooled).cfg.schema)
	ids, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t)}})
	require.NoError(t, err)
	got, err := New(pool, Schema(schema)).Get(ctx, ids[0])
	require.NoError(t, err, "the job is in the schema the URL names")
	require.Equal(t, ids[0], got.ID)

	_, err = storage.Open(ctx, "postgres://127.0.0.1:1/nothing?connect_timeout=1")
	require.ErrorContains(t, err, "cannot reach the database")
}
