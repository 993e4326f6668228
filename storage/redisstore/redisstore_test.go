package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/stresstest"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/storagetest"
)

// requireLoopback fails t unless addr is host:port on a loopback address.
func requireLoopback(t testing.TB, addr string) {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	require.NoError(t, err, "Redis address %q", addr)
	ip := net.ParseIP(host)
	require.True(t, host == "localhost" || ip != nil && ip.IsLoopback(), "Redis address %q is not a loopback address", addr)
}

// testClient connects to TASKFLOW_TEST_REDIS_ADDR, which must be a loopback
// address. Without it the test is skipped, or fails when CI=true.
func testClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	addr := os.Getenv("TASKFLOW_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TASKFLOW_TEST_REDIS_ADDR is not set; CI must provide Redis, e.g. 127.0.0.1:6379")
		}
		t.Skip("Redis tests skipped: set TASKFLOW_TEST_REDIS_ADDR=127.0.0.1:6379 to run them")
	}
	requireLoopback(t, addr)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "tftest-" + hex.EncodeToString(b)
}

// newStore returns a store with a fresh name on client, whose keys are
// deleted after the test.
func newStore(t testing.TB, client redis.UniversalClient, opts ...Option) *Store {
	name := randomName()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, deleteKeys(ctx, client, "{"+name+"}:*"))
	})
	return New(client, append([]Option{Name(name)}, opts...)...)
}

// deleteKeys deletes the keys matching pattern, on every master of a
// cluster.
func deleteKeys(ctx context.Context, client redis.UniversalClient, pattern string) error {
	del := func(ctx context.Context, c redis.Cmdable) error { // a pipeline of DELs per page of keys, for large stores
		for cursor := uint64(0); ; {
			keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return err
			}
			if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Del(ctx, k)
				}
				return nil
			}); err != nil {
				return err
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return del(ctx, c) })
	}
	return del(ctx, client)
}

func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	client := testClient(t)
	storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t, client) })
}

// TestWorkers runs workers under job control on a single server.
func TestWorkers(t *testing.T) {
	stresstest.Run(t, newStore(t, testClient(t)), stresstest.Config{})
}

// TestRollingDeploy runs workers of two releases through a rolling deploy
// on a single server.
func TestRollingDeploy(t *testing.T) {
	stresstest.RollingDeploy(t, newStore(t, testClient(t)), stresstest.Config{})
}
