package redisstore

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/stresstest"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/storagetest"
)

// clusterMasters is the number of masters of the test cluster.
const clusterMasters = 3

// freePort returns a loopback port that nothing listens on, and, with bus,
// whose cluster bus port (10,000 above it) is free too, so that tests
// started at once on one machine do not collide.
func freePort(t *testing.T, bus bool) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		if !bus {
			require.NoError(t, l.Close())
			return port
		}
		if port+10000 <= 65535 {
			if b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000)); err == nil {
				require.NoError(t, b.Close())
				require.NoError(t, l.Close())
				return port
			}
		}
		require.NoError(t, l.Close())
	}
	t.Fatal("no free loopback port with a free cluster bus port")
	return 0
}

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
	exited    chan struct{} // closed once cmd has exited
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
	exited := make(chan struct{})
	s.exited = exited
	go func() {
		_ = s.cmd.Wait()
		close(exited)
	}()
	waitFor(t, func() bool {
		select {
		case <-exited: // say, the port was taken meanwhile: what answers there is not this server
			t.Fatalf("redis-server on %s exited", s.addr)
		default:
		}
		c := redis.NewClient(&redis.Options{Addr: s.addr})
		defer c.Close()
		info, err := c.Info(context.Background(), "server").Result()
		if err == nil && !strings.Contains(info, fmt.Sprintf("process_id:%d\r", s.cmd.Process.Pid)) {
			t.Fatalf("another server than the one started answers on %s", s.addr)
		}
		return err == nil
	}, "redis-server on %s", s.addr)
}

// kill stops the server with SIGKILL, as a crash would.
func (s *redisServer) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// startCluster starts a Redis Cluster of three masters on free ports, in
// temporary directories, torn down after the test. Without redis-server
// and redis-cli the test is skipped, or fails when CI=true.
func startCluster(t *testing.T) *redis.ClusterClient {
	client, _ := startClusterServers(t)
	return client
}

// startClusterServers is startCluster, with extra configuration args for
// every server, that returns the servers too.
func startClusterServers(t *testing.T, args ...string) (*redis.ClusterClient, []*redisServer) {
	t.Helper()
	requireRedisBinaries(t)
	dir := t.TempDir()
	var (
		addrs   []string
		servers []*redisServer
	)
	for range clusterMasters {
		s := startServer(t, dir, freePort(t, true), append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"}, args...)...)
		addrs = append(addrs, s.addr)
		servers = append(servers, s)
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
	return client, servers
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
		require.Len(t, masters, clusterMasters, "32 store names all landed on %v", masters)
	})
}

// masterOf returns the address of the master that serves key.
func masterOf(client *redis.ClusterClient, key string) (string, error) {
	ctx := context.Background()
	slot, err := client.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", err
	}
	shards, err := client.ClusterShards(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, s := range shards {
		for _, r := range s.Slots {
			if r.Start <= slot && slot <= r.End {
				for _, n := range s.Nodes {
					if n.Role == "master" {
						return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10)), nil
					}
				}
			}
		}
	}
	return "", fmt.Errorf("no master serves slot %d", slot)
}
