package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// libraryName is the name of the job library, as FUNCTION LOAD took it.
func libraryName() string { return strings.TrimSuffix(jobFuncPrefix, "_") }

// deleteLibrary deletes the job library from the server, or from every
// master of a cluster, as a restart without persistence would.
func deleteLibrary(ctx context.Context, client redis.UniversalClient) error {
	del := func(ctx context.Context, c redis.Cmdable) error {
		err := c.FunctionDelete(ctx, libraryName()).Err()
		if err != nil && strings.Contains(err.Error(), "not found") {
			return nil
		}
		return err
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return del(ctx, c) })
	}
	return del(ctx, client)
}

// testLibraryReloaded checks that a server that lost the job library gets
// it again on the next call, which then succeeds.
func testLibraryReloaded(t *testing.T, client redis.UniversalClient) {
	ctx := testCtx(t)
	s := newStore(t, client)
	for i, call := range []func() error{
		func() error {
			_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t)}})
			return err
		},
		func() error {
			jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 10, Owner: "w", LeaseFor: time.Minute})
			if err == nil && len(jobs) != 1 {
				t.Errorf("fetched %d jobs after a reload, want 1", len(jobs))
			}
			return err
		},
	} {
		require.NoError(t, deleteLibrary(ctx, client))
		require.NoError(t, call(), "call %d", i)
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		require.NoError(t, cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			libs, err := c.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: libraryName()}).Result()
			require.NoError(t, err)
			require.Len(t, libs, 1, "master %s has no job library", c.Options().Addr)
			return nil
		}))
	}
}

func TestLibraryIsLoadedAgain(t *testing.T) { testLibraryReloaded(t, testClient(t)) }

func TestLibrarySourceIsValid(t *testing.T) {
	require.True(t, strings.HasPrefix(jobLibrary, "#!lua name="+libraryName()+"\n"))
	for _, f := range []jobFunc{createFunc, fetchFunc, transitionFunc, extendFunc, promoteFunc, reclaimFunc, deadFunc, pruneFunc, fireFunc} {
		require.Contains(t, jobLibrary, "redis.register_function('"+string(f)+"'")
	}
}
