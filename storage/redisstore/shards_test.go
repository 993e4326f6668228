package redisstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/internal/stresstest"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/storagetest"
	"github.com/taskflow-go/taskflow/taskflow"
)

// newShardedStore returns a store of n shards with a fresh name on client,
// whose keys, of every shard, are deleted after the test.
func newShardedStore(t testing.TB, client redis.UniversalClient, n int) *Sharded {
	name := randomName()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, deleteKeys(ctx, client, "{"+name+"*"))
	})
	return NewSharded(client, n, Name(name))
}

func TestShardedConformance(t *testing.T) {
	client := testClient(t)
	storagetest.Run(t, func(t *testing.T) storage.Store { return newShardedStore(t, client, 3) })
}

func TestShardedWorkers(t *testing.T) {
	stresstest.Run(t, newShardedStore(t, testClient(t), 3), stresstest.Config{})
}

func TestShardedRollingDeploy(t *testing.T) {
	stresstest.RollingDeploy(t, newShardedStore(t, testClient(t), 3), stresstest.Config{})
}

// TestClusterShards runs the conformance suite and workers on a store of
// three shards on a three-master Redis Cluster, and checks that the shards
// land one on each master.
func TestClusterShards(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	client := startCluster(t)
	t.Run("ShardsSpreadOverMasters", func(t *testing.T) {
		for i := range 16 {
			s := NewSharded(client, clusterMasters, Name(randomName()+string(rune('a'+i))))
			masters := map[string]bool{}
			for _, sh := range s.shards {
				slot, err := client.ClusterKeySlot(testCtx(t), sh.k.seq()).Result()
				require.NoError(t, err)
				require.Equal(t, int64(tagSlot(sh.name)), slot)
				addr, err := masterOf(client, sh.k.seq())
				require.NoError(t, err)
				masters[addr] = true
			}
			require.Len(t, masters, clusterMasters, "shards %v", s.ShardTags())
		}
	})
	t.Run("EveryShardWakes", func(t *testing.T) { testEveryShardWakes(t, client) })
	t.Run("Conformance", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Store { return newShardedStore(t, client, 3) })
	})
	t.Run("Workers", func(t *testing.T) {
		stresstest.Run(t, newShardedStore(t, client, 3), stresstest.Config{})
	})
	t.Run("WorkerFlow", func(t *testing.T) { runWorkerFlow(t, newShardedStore(t, client, 3)) })
}

func TestCRC16MatchesRedisCluster(t *testing.T) {
	require.Equal(t, uint16(0x31C3), crc16("123456789")) // the XMODEM check value
	require.Equal(t, 12182, tagSlot("foo"))              // CLUSTER KEYSLOT foo
}

func TestShardTags(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 16} {
		tags := shardTags("taskflow", n)
		require.Len(t, tags, n)
		require.Equal(t, "taskflow", tags[0], "shard 0 keeps the unsharded layout")
		ranges := map[int]bool{}
		for _, tag := range tags {
			for r := range n {
				if lo, hi := slotRange(r, n); lo <= tagSlot(tag) && tagSlot(tag) < hi {
					ranges[r] = true
				}
			}
		}
		require.Len(t, ranges, n, "each shard in its own slot range: %v", tags)
	}
	require.Equal(t, []string{"taskflow"}, NewSharded(nil, 1).ShardTags())
	for _, n := range []int{0, MaxShards + 1} {
		_, err := NewSharded(nil, n).Get(context.Background(), uuid.New())
		require.ErrorIs(t, err, ErrInvalidShards, "%d shards", n)
	}
}

// TestShardsSpreadAQueue: the jobs of one queue, created in many calls,
// land on every shard, and are fetched, priority first then first in,
// across them.
func TestShardsSpreadAQueue(t *testing.T) {
	client := testClient(t)
	s := newShardedStore(t, client, 3)
	ctx := testCtx(t)
	var want []uuid.UUID
	for i := range 30 {
		j := enqueuedJob(t)
		if i%3 == 0 {
			j.Priority = 1
		}
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
		require.NoError(t, err)
		want = append(want, j.ID)
	}
	for i, sh := range s.shards {
		n, err := client.ZCard(ctx, sh.k.prefix+"q:default").Result()
		require.NoError(t, err)
		require.NotZero(t, n, "shard %d has none of the queue's jobs", i)
	}
	var first, rest []uuid.UUID
	for i, id := range want {
		if i%3 == 0 {
			first = append(first, id)
		} else {
			rest = append(rest, id)
		}
	}
	var got []uuid.UUID
	for {
		jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 4, Owner: "w", LeaseFor: time.Minute})
		require.NoError(t, err)
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			got = append(got, j.ID)
			sh, _ := s.inToken(j.LeaseToken)
			n, err := client.Exists(ctx, s.shards[sh].k.job(j.ID)).Result()
			require.NoError(t, err)
			require.Equal(t, int64(1), n, "the token names the job's shard")
		}
	}
	require.Equal(t, append(first, rest...), got)
}

// TestShardedCreatePlacesRelatedJobsTogether: a continuation goes to its
// parent's shard, a batch or a unique key to shard 0, and a call whose
// jobs belong on different shards is refused whole.
func TestShardedCreatePlacesRelatedJobsTogether(t *testing.T) {
	client := testClient(t)
	s := newShardedStore(t, client, 3)
	ctx := testCtx(t)
	shardOf := func(id uuid.UUID) int {
		at, err := s.locate(ctx, []uuid.UUID{id})
		require.NoError(t, err)
		return at[0]
	}
	// A parent on a shard other than 0.
	var parent *storage.Job
	for parent == nil || shardOf(parent.ID) == 0 {
		parent = enqueuedJob(t)
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{parent}})
		require.NoError(t, err)
	}
	awaiting := func(opts ...func(*storage.Job)) *storage.Job {
		return enqueuedJob(t, append([]func(*storage.Job){func(j *storage.Job) {
			j.State, j.ParentID = states.NameAwaiting, parent.ID
			j.StateData = []byte(`{"parent_id":"` + parent.ID.String() + `","on":"success"}`)
		}}, opts...)...)
	}
	c := awaiting()
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t), c}})
	require.NoError(t, err)
	require.Equal(t, shardOf(parent.ID), shardOf(c.ID), "a continuation lives with its parent")

	keyed := enqueuedJob(t, func(j *storage.Job) { j.UniqueKey = "k" })
	batched := enqueuedJob(t, func(j *storage.Job) { j.BatchID = uuid.Must(uuid.NewV7()) })
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{keyed, batched}})
	require.NoError(t, err)
	require.Zero(t, shardOf(keyed.ID))
	require.Zero(t, shardOf(batched.ID))

	bad := awaiting(func(j *storage.Job) { j.UniqueKey = "other" })
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{bad}})
	require.ErrorIs(t, err, ErrShardConflict)
	require.ErrorIs(t, err, storage.ErrNotSupported)
	require.Equal(t, -1, shardOf(bad.ID))

	// Finishing the parent resolves the continuation, on its shard.
	jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 100, Owner: "w", LeaseFor: time.Minute})
	require.NoError(t, err)
	for _, j := range jobs {
		if j.ID == parent.ID {
			errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{{
				ID: j.ID, Token: j.LeaseToken, From: []states.Name{states.NameProcessing}, To: states.NameSucceeded, Data: []byte(`{}`)}}})
			require.NoError(t, err)
			require.NoError(t, errors.Join(errs...))
		}
	}
	got, err := s.Get(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, states.NameEnqueued, got.State)
}

// TestShardedTransitionAcrossShards: changes of jobs on different shards,
// with AllOrNothing, are all applied or none; a token that names another
// shard than its job's is a lost lease.
func TestShardedTransitionAcrossShards(t *testing.T) {
	client := testClient(t)
	s := newShardedStore(t, client, 3)
	ctx := testCtx(t)
	// Two jobs on different shards.
	var jobs []*storage.Job
	seen := map[int]bool{}
	for len(jobs) < 2 {
		j := enqueuedJob(t)
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
		require.NoError(t, err)
		at, err := s.locate(ctx, []uuid.UUID{j.ID})
		require.NoError(t, err)
		if !seen[at[0]] {
			seen[at[0]] = true
			jobs = append(jobs, j)
		}
	}
	del := func(id uuid.UUID, from states.Name) storage.Transition {
		return storage.Transition{ID: id, From: []states.Name{from}, To: states.NameDeleted, Data: []byte(`{}`)}
	}
	state := func(id uuid.UUID) (states.Name, int) {
		j, err := s.Get(ctx, id)
		require.NoError(t, err)
		return j.State, len(j.History)
	}

	errs, err := s.Transition(ctx, &storage.TransitionParams{AllOrNothing: true,
		Transitions: []storage.Transition{del(jobs[0].ID, states.NameEnqueued), del(jobs[1].ID, states.NameProcessing)}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], storage.ErrStateConflict)
	for _, j := range jobs {
		st, n := state(j.ID)
		require.Equal(t, states.NameEnqueued, st)
		require.Equal(t, 1, n, "a change was applied")
	}

	// Other jobs, made on the way to the two shards, may be leased too.
	leased, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 100, Owner: "w", LeaseFor: time.Minute})
	require.NoError(t, err)
	var got []*storage.Job
	for _, want := range jobs {
		for _, j := range leased {
			if j.ID == want.ID {
				got = append(got, j)
			}
		}
	}
	require.Len(t, got, 2)
	errs, err = s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{
		{ID: got[0].ID, Token: got[0].LeaseToken + 1, From: []states.Name{states.NameProcessing}, To: states.NameSucceeded, Data: []byte(`{}`)},
		{ID: uuid.Must(uuid.NewV7()), To: states.NameDeleted, Data: []byte(`{}`)},
	}})
	require.NoError(t, err)
	require.ErrorIs(t, errs[0], storage.ErrLeaseLost)
	require.ErrorIs(t, errs[1], storage.ErrNotFound)

	errs, err = s.Transition(ctx, &storage.TransitionParams{AllOrNothing: true,
		Transitions: []storage.Transition{del(got[0].ID, states.NameProcessing), del(got[1].ID, states.NameProcessing)}})
	require.NoError(t, err)
	require.Equal(t, []error{nil, nil}, errs)
	for _, j := range jobs {
		st, _ := state(j.ID)
		require.Equal(t, states.NameDeleted, st)
	}
}

func TestShardedEveryShardWakes(t *testing.T) { testEveryShardWakes(t, testClient(t)) }

// testEveryShardWakes: a job enqueued on any shard wakes a subscriber.
func testEveryShardWakes(t *testing.T, client redis.UniversalClient) {
	s := newShardedStore(t, client, 3)
	ctx := testCtx(t)
	wake, err := s.Subscribe(ctx, storage.TopicEnqueued)
	require.NoError(t, err)
	for i, sh := range s.shards {
		_, err := sh.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t)}})
		require.NoError(t, err)
		select {
		case <-wake:
		case <-time.After(5 * time.Second):
			t.Fatalf("a job enqueued on shard %d woke no one", i)
		}
	}
}

// TestShardsWithAMasterDown stops one master of a three-master cluster run
// with cluster-require-full-coverage no, under a worker serving a store of
// three shards: the two healthy shards keep working. Every job enqueued
// after the master went down is stored (on a healthy shard) and runs.
func TestShardsWithAMasterDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	client, servers := startClusterServers(t, "--cluster-require-full-coverage", "no")
	s := NewSharded(client, clusterMasters, Name(randomName())) // its keys go with the cluster
	ctx := testCtx(t)
	var ran sync.Map
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "master-down", func(ctx context.Context, _ int) (struct{}, error) {
		j, _ := taskflow.JobFromContext(ctx)
		ran.Store(j.ID, true)
		return struct{}{}, nil
	})
	require.NoError(t, err)
	tc := rig.Start(t, s, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg, Concurrency: 10, LeaseDuration: 2 * time.Second}}).Client
	hasRun := func(hs []*taskflow.Handle[struct{}]) func() bool {
		return func() bool {
			for _, h := range hs {
				if _, ok := ran.Load(h.ID); !ok {
					return false
				}
			}
			return true
		}
	}
	enqueue := func(n int) []*taskflow.Handle[struct{}] {
		var hs []*taskflow.Handle[struct{}]
		for i := range n {
			h, err := task.On(tc).Enqueue(ctx, i)
			require.NoError(t, err, "enqueue %d", i)
			hs = append(hs, h)
		}
		return hs
	}
	require.Eventually(t, hasRun(enqueue(30)), 20*time.Second, 10*time.Millisecond, "jobs did not run on the healthy cluster")

	addr, err := masterOf(client, s.shards[1].k.seq())
	require.NoError(t, err)
	i := slices.IndexFunc(servers, func(srv *redisServer) bool { return srv.addr == addr })
	require.GreaterOrEqual(t, i, 0, "no server at %s", addr)
	servers[i].kill()
	require.Eventually(t, hasRun(enqueue(60)), 20*time.Second, 10*time.Millisecond,
		"jobs enqueued while shard 1's master is down did not all run on the healthy shards")
}

// listingStore is what the tests of lists use of a store of either mode.
type listingStore interface {
	storage.Store
	storage.Lister
	storage.Pruner
}

// listedStore is a store of either mode, with the name its keys carry.
type listedStore struct {
	listingStore
	name string
}

// newShardedOrPlain returns a plain store for n = 1, else a sharded one.
func newShardedOrPlain(t testing.TB, client redis.UniversalClient, n int) listedStore {
	if n == 1 {
		s := newStore(t, client)
		return listedStore{s, s.name}
	}
	s := newShardedStore(t, client, n)
	return listedStore{s, s.home.name}
}
