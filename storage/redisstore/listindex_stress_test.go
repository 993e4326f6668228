package redisstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// TestListIndexesUnderConcurrentChanges: a store written before the
// indexes of lists is changed at random from several goroutines (creates
// with and without a parent, moves to other states and queues, fetches
// and completions, prunes)
// while others list it, so that several file its jobs at once and race
// the changes. Afterwards the indexes hold exactly the store's jobs, by
// queue and by parent, and the lists agree.
func TestListIndexesUnderConcurrentChanges(t *testing.T) {
	client := testClient(t)
	for _, shards := range []int{1, 3} {
		t.Run(fmt.Sprintf("%dShards", shards), func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			ctx := testCtx(t)
			s := newShardedOrPlain(t, client, shards)
			queues := []string{"a", "b", "c"}
			var parents []*storage.Job
			for range 4 {
				p := enqueuedJob(t, func(j *storage.Job) { j.Queue = "parents" })
				_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{p}})
				require.NoError(t, err)
				parents = append(parents, p)
			}
			var (
				mu  sync.Mutex
				ids []uuid.UUID // jobs created, some since removed
			)
			rnd := rand.New(rand.NewPCG(seed, 1))
			newJobs := func(r *rand.Rand) []*storage.Job {
				jobs := make([]*storage.Job, 1+r.IntN(4))
				p := parents[r.IntN(len(parents))] // one per call: with shards, a call's parents share a shard
				for i := range jobs {
					jobs[i] = enqueuedJob(t, func(j *storage.Job) {
						j.Queue = queues[r.IntN(len(queues))]
						if r.IntN(3) == 0 {
							j.State, j.ParentID = states.NameAwaiting, p.ID
							j.StateData = []byte(`{"parent_id":"` + p.ID.String() + `","on":"success"}`)
						}
					})
				}
				return jobs
			}
			create := func(r *rand.Rand) {
				jobs := newJobs(r)
				_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
				require.NoError(t, err)
				mu.Lock()
				for _, j := range jobs {
					ids = append(ids, j.ID)
				}
				mu.Unlock()
			}
			for range 300 { // the store as written before the indexes
				create(rnd)
			}
			for _, key := range []string{"s:active:*", "c:*"} {
				require.NoError(t, deleteKeys(ctx, client, "{"+s.name+"*}:"+key))
			}

			var wg sync.WaitGroup
			for g := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(seed, uint64(g+2)))
					for range 150 {
						switch op := r.IntN(10); {
						case op < 3:
							create(r)
						case op < 5:
							mu.Lock()
							id := ids[r.IntN(len(ids))]
							mu.Unlock()
							to := []states.Name{states.NameEnqueued, states.NameFailed, states.NameSucceeded, states.NameDeleted}[r.IntN(4)]
							tr := storage.Transition{ID: id, To: to, Data: []byte(`{}`), Queue: queues[r.IntN(len(queues))]}
							if to == states.NameSucceeded || to == states.NameDeleted {
								tr.ExpireAt = time.Now()
							}
							_, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{tr}, Retention: time.Hour})
							require.NoError(t, err)
						case op < 6: // leased, and finished by the lease's holder (or left Processing)
							got, err := s.Fetch(ctx, &storage.FetchParams{Queues: queues, Limit: 3, Owner: "o", LeaseFor: time.Minute})
							require.NoError(t, err)
							var ts []storage.Transition
							for _, j := range got {
								if r.IntN(4) > 0 {
									ts = append(ts, storage.Transition{ID: j.ID, Token: j.LeaseToken, Owner: "o", To: states.NameSucceeded,
										Data: []byte(`{}`), ExpireAt: time.Now()})
								}
							}
							_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: ts, Retention: time.Hour})
							require.NoError(t, err)
						case op < 7:
							_, err := s.DeleteExpired(ctx, &storage.PruneParams{Now: time.Now().Add(time.Hour), Limit: 20})
							require.NoError(t, err)
						default:
							p := storage.ListParams{Limit: 20}
							switch r.IntN(3) {
							case 0:
								p.Queue = queues[r.IntN(len(queues))]
							case 1:
								p.ParentID = parents[r.IntN(len(parents))].ID
							}
							_, err := s.List(ctx, &p)
							require.NoError(t, err)
						}
					}
				}()
			}
			wg.Wait()
			requireListIndexes(t, client, s.name)

			all, err := s.List(ctx, &storage.ListParams{})
			require.NoError(t, err)
			got := jobIDs(all)
			require.True(t, slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) }), "newest first")
			require.Len(t, slices.Compact(slices.Clone(got)), len(got), "each job once")
			for _, p := range parents {
				kids, err := s.List(ctx, &storage.ListParams{ParentID: p.ID})
				require.NoError(t, err)
				for _, k := range kids {
					require.Equal(t, p.ID, k.ParentID)
				}
			}
		})
	}
}

// requireListIndexes fails t unless the indexes of lists of every shard of
// the store named name hold exactly its jobs: s:active:<queue> the
// Enqueued and Processing jobs of the queue, c:<parent> the jobs that name
// the parent.
func requireListIndexes(t *testing.T, client redis.UniversalClient, name string) {
	t.Helper()
	ctx := testCtx(t)
	want, got := map[string][]string{}, map[string][]string{}
	keys, err := client.Keys(ctx, "{"+name+"*}:*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		i := strings.Index(k, "}:") + 2
		prefix, rest := k[:i], k[i:]
		switch {
		case strings.HasPrefix(rest, "j:"):
			v, err := client.HMGet(ctx, k, "s", "q", "pa").Result()
			require.NoError(t, err)
			id := strings.TrimPrefix(rest, "j:")
			if st, _ := v[0].(string); st == string(states.NameEnqueued) || st == string(states.NameProcessing) {
				key := prefix + "s:active:" + v[1].(string)
				want[key] = append(want[key], id)
			}
			if pa, _ := v[2].(string); pa != "" {
				want[prefix+"c:"+pa] = append(want[prefix+"c:"+pa], id)
			}
		case strings.HasPrefix(rest, "s:active:"), strings.HasPrefix(rest, "c:"):
			got[k], err = client.ZRange(ctx, k, 0, -1).Result()
			require.NoError(t, err)
		}
	}
	for _, ids := range want {
		slices.Sort(ids)
	}
	require.NotEmpty(t, want)
	require.Equal(t, want, got)
}
