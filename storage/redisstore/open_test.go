package redisstore

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
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

// TestOpenByClusterURL: a redis+cluster:// URL opens a store on a cluster
// client that finds every master from the nodes it names, under the name
// and over the shards its query gives.
func TestOpenByClusterURL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	client := startCluster(t)
	ctx := testCtx(t)
	var (
		mu    sync.Mutex
		addrs []string
	)
	require.NoError(t, client.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		addrs = append(addrs, c.Options().Addr)
		return nil
	}))
	name := randomName()
	s, err := storage.Open(ctx, "redis+cluster://"+addrs[0]+"?addr="+addrs[1]+"&name="+name+"&shards="+strconv.Itoa(clusterMasters))
	require.NoError(t, err)
	defer s.Close()
	require.IsType(t, &redis.ClusterClient{}, s.(ownedSharded).home.rdb)
	var jobs []*storage.Job
	for range 30 { // one per Create call, so that they spread over the shards
		j := enqueuedJob(t)
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
		require.NoError(t, err)
		jobs = append(jobs, j)
	}
	same := NewSharded(client, clusterMasters, Name(name))
	for _, j := range jobs {
		got, err := same.Get(ctx, j.ID)
		require.NoError(t, err, "the job is in the store the URL names")
		require.Equal(t, j.ID, got.ID)
	}
	held := map[string]int{} // job keys by master
	require.NoError(t, client.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, "{"+name+"*}:j:*").Result()
		mu.Lock()
		defer mu.Unlock()
		held[c.Options().Addr] = len(keys)
		return err
	}))
	for addr, n := range held {
		require.NotZero(t, n, "master %s holds jobs: the URL's shards spread over the masters (%v)", addr, held)
	}
	listed, err := s.(storage.Lister).List(ctx, &storage.ListParams{})
	require.NoError(t, err)
	require.Len(t, listed, len(jobs))
}

// TestOpenRefusesBadURLs: a URL whose store options are invalid is refused
// before anything connects.
func TestOpenRefusesBadURLs(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want error
	}{
		{"redis://127.0.0.1:1/0?shards=many", ErrInvalidShards},
		{"redis+cluster://127.0.0.1:1?shards=0", ErrInvalidShards},
		{"rediss+cluster://127.0.0.1:1?name=%7Bx%7D", ErrInvalidName},
	} {
		_, err := storage.Open(context.Background(), tt.url)
		require.ErrorIs(t, err, tt.want, tt.url)
	}
}
