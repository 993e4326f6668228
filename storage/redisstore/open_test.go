package redisstore

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// TestOpenByURL: a redis:// URL opens a store on its own client, under the
// name its query gives.
func TestOpenByURL(t *testing.T) {
	client := testClient(t)
	name := randomName()
	t.Cleanup(func() { require.NoError(t, deleteKeys(context.Background(), client, "{"+name+"}:*")) })
	ctx := context.Background()
	s, err := storage.Open(ctx, "redis://"+os.Getenv("TASKFLOW_TEST_REDIS_ADDR")+"/0?name="+name)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, name, s.(owned).name)
	ids, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t)}})
	require.NoError(t, err)
	got, err := New(client, Name(name)).Get(ctx, ids[0])
	require.NoError(t, err, "the job is under the name the URL gives")
	require.Equal(t, ids[0], got.ID)
}
