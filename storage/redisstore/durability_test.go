package redisstore

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/crashtest"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// crashEnv names the store the crash helper process works on; it is set
// only in that process.
const crashEnv = "TASKFLOW_REDIS_CRASH_HELPER_STORE"

// crashRuns records the runs of the crash test's jobs in the list
// runs:<job> of store s.
func crashRuns(client redis.UniversalClient, s *Store) crashtest.Runs {
	key := func(id uuid.UUID) string { return s.k.prefix + "runs:" + id.String() }
	return crashtest.Runs{
		Record: func(ctx context.Context, id uuid.UUID, run string) error {
			return client.RPush(ctx, key(id), run).Err()
		},
		Of: func(ctx context.Context, id uuid.UUID) ([]string, error) {
			return client.LRange(ctx, key(id), 0, -1).Result()
		},
	}
}

// TestCrashHelper is the worker process of TestCrashRecovery; on its own it
// does nothing.
func TestCrashHelper(t *testing.T) {
	name := os.Getenv(crashEnv)
	if name == "" {
		t.Skip("the worker process of TestCrashRecovery")
	}
	client := testClient(t)
	s := New(client, Name(name))
	crashtest.Helper(t, s, crashRuns(client, s))
}

// TestCrashRecovery kills a worker process with SIGKILL while it runs jobs,
// then checks that another worker completes every one of them, exactly
// once, within the lease recovery bound.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the helper process")
	}
	client := testClient(t)
	s := newStore(t, client)
	name := strings.Trim(strings.TrimSuffix(s.k.prefix, ":"), "{}")
	crashtest.Recover(t, s, crashRuns(client, s), "TestCrashHelper", crashEnv+"="+name)
}

// succeeded counts the Succeeded entries of a job's history.
func succeeded(j *taskflow.JobInfo) int {
	n := 0
	for _, e := range j.History {
		if e.State.Name() == states.NameSucceeded {
			n++
		}
	}
	return n
}

// follower is a Redis client whose connections go to the address it is
// pointed at, so that a test can move it to another server as a failover
// (a Sentinel, a DNS name) would.
type follower struct {
	addr   atomic.Value // string
	client *redis.Client
}

func newFollower(t *testing.T, addr string) *follower {
	f := &follower{}
	f.addr.Store(addr)
	f.client = redis.NewClient(&redis.Options{Addr: addr, Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, f.addr.Load().(string))
	}})
	t.Cleanup(func() { _ = f.client.Close() })
	return f
}

// loseWrites are ways a Redis server loses the writes of its last moments:
// each starts the server(s) it needs in dir, calls mark once the writes
// to keep are made, and lose once the writes to lose are made, which
// leaves f pointed at a server that has the first and not the second.
var loseWrites = []struct {
	name  string
	start func(t *testing.T, dir string) (f *follower, mark, lose func())
}{
	{"RestartOnAnOlderSnapshot", func(t *testing.T, dir string) (*follower, func(), func()) {
		srv := startServer(t, dir, freePort(t, false), "--save", "", "--appendonly", "no")
		f := newFollower(t, srv.addr)
		return f, func() { require.NoError(t, f.client.Save(context.Background()).Err()) }, func() { srv.kill(); srv.start(t) }
	}},
	{"ReplicaPromoted", func(t *testing.T, dir string) (*follower, func(), func()) {
		master := startServer(t, dir, freePort(t, false), "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
		replica := startServer(t, dir, freePort(t, false), "--save", "", "--appendonly", "no")
		f := newFollower(t, master.addr)
		promote := promoter(t, master, replica)
		return f, promote, func() { master.kill(); f.addr.Store(replica.addr) }
	}},
}

// promoter makes replica replicate master, and returns the promotion of
// the replica (REPLICAOF NO ONE) once it has every write made so far.
func promoter(t *testing.T, master, replica *redisServer) func() {
	ctx := context.Background()
	r := redis.NewClient(&redis.Options{Addr: replica.addr})
	t.Cleanup(func() { _ = r.Close() })
	host, port, _ := strings.Cut(master.addr, ":")
	require.NoError(t, r.ReplicaOf(ctx, host, port).Err())
	return func() {
		m := redis.NewClient(&redis.Options{Addr: master.addr})
		defer m.Close()
		waitFor(t, func() bool {
			n, err := m.Do(ctx, "WAIT", 1, 1000).Int()
			return err == nil && n == 1
		}, "replica %s in sync", replica.addr)
		require.NoError(t, r.ReplicaOf(ctx, "NO", "ONE").Err())
	}
}

// A lease whose write a crash or a failover lost is not handed out again
// under its token: the attempt that held it can no longer finish the job,
// whose next lease, by the same worker, is held under another token.
func TestLostLeaseTokenIsNotHandedOutAgain(t *testing.T) {
	requireRedisBinaries(t)
	for _, tt := range loseWrites {
		t.Run(tt.name, func(t *testing.T) {
			f, mark, lose := tt.start(t, t.TempDir())
			ctx := testCtx(t)
			s := New(f.client, Name("lost"))
			job := enqueuedJob(t)
			_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{job}})
			require.NoError(t, err)
			fetch := func() *storage.Job {
				got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "w1", LeaseFor: time.Minute})
				require.NoError(t, err)
				require.Len(t, got, 1)
				return got[0]
			}
			mark()
			stale := fetch()
			lose()
			waitFor(t, func() bool { return f.client.Ping(ctx).Err() == nil }, "the server back")
			fresh := fetch()
			require.Equal(t, job.ID, fresh.ID)
			require.NotEqual(t, stale.LeaseToken, fresh.LeaseToken, "a lost lease's token was handed out again")
			require.Greater(t, fresh.LeaseToken, stale.LeaseToken)
			for _, tr := range []struct {
				lease *storage.Job
				want  error
			}{{stale, storage.ErrLeaseLost}, {fresh, nil}} {
				errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{{
					ID: job.ID, From: []states.Name{states.NameProcessing}, Token: tr.lease.LeaseToken, Owner: tr.lease.LeaseOwner,
					To: states.NameSucceeded, Data: []byte(`{}`),
				}}})
				require.NoError(t, err)
				if tr.want == nil {
					require.NoError(t, errs[0], "token %d", tr.lease.LeaseToken)
				} else {
					require.ErrorIs(t, errs[0], tr.want, "token %d", tr.lease.LeaseToken)
				}
			}
		})
	}
}

// run is one run of a job in TestLostWritesUnderLoad: the worker that
// ran it, the result it returns, and when it started.
type run struct {
	worker, nonce string
	at            time.Time
}

// TestLostWritesUnderLoad stops the Redis server under a worker running
// jobs, in each of the ways a server loses (or may lose) its last writes:
// a SIGKILL with appendfsync always or everysec, and a replica promoted
// while the master still took writes. The workers carry on by themselves;
// every job ends Succeeded exactly once, with the result of a run of the
// worker that held its last lease: a stale attempt's outcome never lands.
func TestLostWritesUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts Redis servers")
	}
	requireRedisBinaries(t)
	aof := func(fsync string) func(t *testing.T, dir string) (*follower, func(), func()) {
		return func(t *testing.T, dir string) (*follower, func(), func()) {
			srv := startServer(t, dir, freePort(t, false), "--appendonly", "yes", "--appendfsync", fsync, "--save", "")
			return newFollower(t, srv.addr), func() {}, func() {
				srv.kill()
				time.Sleep(300 * time.Millisecond) // the worker meets a dead server
				srv.start(t)
			}
		}
	}
	cases := []struct {
		name  string
		start func(t *testing.T, dir string) (*follower, func(), func())
	}{
		{"SIGKILLWithAppendfsyncAlways", aof("always")},
		{"SIGKILLWithAppendfsyncEverysec", aof("everysec")},
		{"ReplicaPromotedAfterTheMastersLastWrites", func(t *testing.T, dir string) (*follower, func(), func()) {
			master := startServer(t, dir, freePort(t, false), "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
			replica := startServer(t, dir, freePort(t, false), "--save", "", "--appendonly", "no")
			f := newFollower(t, master.addr)
			promote := promoter(t, master, replica)
			return f, func() {}, func() {
				promote()
				time.Sleep(30 * time.Millisecond) // the master's last writes: leases of attempts that run on
				master.kill()
				f.addr.Store(replica.addr)
			}
		}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			f, _, lose := tt.start(t, t.TempDir())
			s := New(f.client, Name("load"))
			ctx := testCtx(t)
			const jobs = 600
			var (
				mu   sync.Mutex
				runs = map[uuid.UUID][]run{}
			)
			// Two workers: a job whose lease was lost can be fetched again
			// by one while the other still runs it.
			workers := []string{"w1", "w2"}
			regs := make([]*taskflow.Registry, len(workers))
			var task *taskflow.Task[int, string]
			for i, w := range workers {
				regs[i] = taskflow.NewRegistry()
				var err error
				task, err = taskflow.RegisterTask(regs[i], "lost-writes", func(ctx context.Context, _ int) (string, error) {
					j, _ := taskflow.JobFromContext(ctx)
					nonce := uuid.NewString()
					mu.Lock()
					runs[j.ID] = append(runs[j.ID], run{w, nonce, time.Now()})
					mu.Unlock()
					time.Sleep(time.Duration(20+rand.IntN(100)) * time.Millisecond) // long enough to run on across the loss
					return nonce, nil
				})
				require.NoError(t, err)
			}
			tc, err := taskflow.NewClient(s, taskflow.ClientOptions{})
			require.NoError(t, err)
			handles, err := task.On(tc).EnqueueMany(ctx, make([]int, jobs))
			require.NoError(t, err)

			runCtx, stop := context.WithCancel(context.Background())
			stopped := make(chan error, 2)
			for i, w := range workers {
				go func() {
					wk, err := taskflow.NewWorker(s, taskflow.WorkerOptions{ID: w, Registry: regs[i], Concurrency: 10,
						LeaseDuration: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
					if err == nil {
						err = wk.Run(runCtx)
					}
					stopped <- err
				}()
			}
			defer func() {
				stop()
				require.NoError(t, <-stopped)
				require.NoError(t, <-stopped)
			}()
			ran := func() int {
				mu.Lock()
				defer mu.Unlock()
				return len(runs)
			}
			require.Eventually(t, func() bool { return ran() >= jobs/4 }, 20*time.Second, 5*time.Millisecond, "the workers did not get going")
			lose()
			back := time.Now()
			t.Logf("writes lost after %d of %d jobs ran", ran(), jobs)

			require.Eventually(t, func() bool {
				n, err := s.Count(ctx, "")
				return err == nil && n[states.NameSucceeded] == jobs
			}, 40*time.Second, 20*time.Millisecond, "not every job Succeeded after the loss")
			t.Logf("every job Succeeded %v after the server came back (a shared machine: indicative only)", time.Since(back))
			again, resumed := 0, time.Duration(0)
			mu.Lock()
			defer mu.Unlock()
			for _, h := range handles {
				j, err := tc.Job(ctx, h.ID)
				require.NoError(t, err)
				require.Equal(t, 1, succeeded(j), "job %s history: %v", h.ID, j.History)
				rs := runs[h.ID]
				var got string
				require.NoError(t, json.Unmarshal(j.State.(states.Succeeded).Result, &got))
				k := slices.IndexFunc(rs, func(r run) bool { return r.nonce == got })
				require.GreaterOrEqual(t, k, 0, "job %s: a result no run returned", h.ID)
				holder := j.History[len(j.History)-2].State.(states.Processing).ServerID // the lease the outcome was stored under
				require.Equal(t, holder, rs[k].worker, "job %s: the outcome of a stale run (of %d) landed", h.ID, len(rs))
				if len(rs) > 1 {
					again++
				}
				for _, r := range rs {
					if d := r.at.Sub(back); d > 0 && (resumed == 0 || d < resumed) {
						resumed = d
					}
				}
			}
			t.Logf("%d jobs ran again; the first run started %v after the server was back (a shared machine: indicative only)", again, resumed)
		})
	}
}

// A subscriber whose pub/sub connection drops is woken once it is back (a
// wake-up may have been lost meanwhile), and keeps getting wake-ups.
func TestSubscriberSurvivesALostConnection(t *testing.T) {
	requireRedisBinaries(t)
	srv := startServer(t, t.TempDir(), freePort(t, false), "--save", "", "--appendonly", "no")
	client := redis.NewClient(&redis.Options{Addr: srv.addr})
	t.Cleanup(func() { _ = client.Close() })
	s := New(client)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	ch, err := s.Subscribe(ctx, storage.TopicScheduled)
	require.NoError(t, err)
	woken := func() bool {
		select {
		case <-ch:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	require.NoError(t, client.ClientKillByFilter(ctx, "TYPE", "pubsub").Err())
	require.True(t, woken(), "no wake-up after the connection came back")
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t, func(j *storage.Job) {
		j.State, j.RunAt, j.StateData = states.NameScheduled, time.Now().Add(time.Hour), []byte(`{}`)
	})}})
	require.NoError(t, err)
	require.True(t, woken(), "no wake-up for a change after the reconnection")
}
