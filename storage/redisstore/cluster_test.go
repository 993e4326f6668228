package redisstore

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/stresstest"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/storagetest"
)

// clusterPorts are the loopback ports of the test cluster's masters.
var clusterPorts = []int{7101, 7102, 7103}

// requireRedisBinaries skips t, or fails it when CI=true, unless
// redis-server and redis-cli are installed.
func requireRedisBinaries(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; CI must provide it", bin)
			}
			t.Skipf("test skipped: %s is not installed", bin)
		}
	}
}

// redisServer is a redis-server process on a loopback port that a test
// started, with its data in dir; it is killed after the test.
type redisServer struct {
	addr, dir string
	args      []string
	cmd       *exec.Cmd
}

// startServer starts redis-server on 127.0.0.1:port with its data in a new
// directory under parent and the extra configuration args.
func startServer(t *testing.T, parent string, port int, args ...string) *redisServer {
	t.Helper()
	s := &redisServer{addr: fmt.Sprintf("127.0.0.1:%d", port), dir: filepath.Join(parent, fmt.Sprint(port)), args: args}
	require.NoError(t, os.Mkdir(s.dir, 0o755))
	t.Cleanup(s.kill)
	s.start(t)
	return s
}

// start starts the server and waits until it answers.
func (s *redisServer) start(t *testing.T) {
	t.Helper()
	_, port, _ := strings.Cut(s.addr, ":")
	s.cmd = exec.Command("redis-server", append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir}, s.args...)...)
	require.NoError(t, s.cmd.Start(), "start redis-server on %s", s.addr)
	waitFor(t, func() bool {
		c := redis.NewClient(&redis.Options{Addr: s.addr})
		defer c.Close()
		return c.Ping(context.Background()).Err() == nil
	}, "redis-server on %s", s.addr)
}

// kill stops the server with SIGKILL, as a crash would.
func (s *redisServer) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// startCluster starts a Redis Cluster of three masters on clusterPorts, in
// temporary directories, torn down after the test. Without redis-server
// and redis-cli the test is skipped, or fails when CI=true.
func startCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	requireRedisBinaries(t)
	dir := t.TempDir()
	var addrs []string
	for _, port := range clusterPorts {
		s := startServer(t, dir, port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no")
		addrs = append(addrs, s.addr)
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)
	waitFor(t, func() bool {
		for _, addr := range addrs {
			c := redis.NewClient(&redis.Options{Addr: addr})
			info, err := c.ClusterInfo(context.Background()).Result()
			c.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				return false
			}
		}
		return true
	}, "cluster state ok")
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = client.Close() })
	require.NoError(t, client.ForEachShard(context.Background(), func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() }))
	return client
}

func waitFor(t *testing.T, ok func() bool, what string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+what, args...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCluster runs the conformance suite, and workers under job control,
// on a three-master Redis Cluster. Stores of different names land on
// different masters.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	client := startCluster(t)
	t.Run("Conformance", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t, client) })
	})
	t.Run("Workers", func(t *testing.T) {
		stresstest.Run(t, newStore(t, client), stresstest.Config{})
	})
	t.Run("WorkerFlow", func(t *testing.T) { runWorkerFlow(t, newStore(t, client)) })
	t.Run("LibraryIsLoadedAgain", func(t *testing.T) { testLibraryReloaded(t, client) })
	t.Run("StoresSpreadOverMasters", func(t *testing.T) {
		masters := map[string]bool{}
		for i := range 32 {
			key := New(client, Name(fmt.Sprintf("spread-%d", i))).k.seq()
			addr, err := masterOf(client, key)
			require.NoError(t, err)
			masters[addr] = true
		}
		require.Len(t, masters, len(clusterPorts), "32 store names all landed on %v", masters)
	})
}

// masterOf returns the address of the master that serves key.
func masterOf(client *redis.ClusterClient, key string) (string, error) {
	ctx := context.Background()
	slot, err := client.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", err
	}
	slots, err := client.ClusterSlots(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) {
			return s.Nodes[0].Addr, nil
		}
	}
	return "", fmt.Errorf("no master serves slot %d", slot)
}
