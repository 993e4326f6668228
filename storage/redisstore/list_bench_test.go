package redisstore

import (
	"context"
	"errors"
	flagpkg "flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

var listJobs = flagpkg.Int("list.jobs", 100_000, "jobs in the store of BenchmarkListDepth")

// BenchmarkListDepth lists a page of 20 jobs at the start, after a
// cursor deep in, and at the end of each list of a store of -list.jobs
// jobs (100,000 by default: nine in ten succeeded, the others failed,
// enqueued in three queues or scheduled): keyset pages cost the same at
// any depth.
//
//	go test ./storage/redisstore -run '^$' -bench ListDepth -benchtime 20x
func BenchmarkListDepth(b *testing.B) {
	s := newStore(b, testClient(b))
	ctx := context.Background()
	const chunk = 1000
	for n := 0; n < *listJobs; n += chunk {
		jobs := make([]*storage.Job, chunk)
		for i := range jobs {
			k := n + i
			st, data, runAt := states.NameEnqueued, []byte(nil), time.Time{}
			if k%100 == 99 {
				runAt = time.Now().Add(time.Duration(k) * time.Second)
				st = states.NameScheduled
				data, _ = states.Marshal(states.Scheduled{EnqueueAt: runAt, ScheduledAt: time.Now()})
			} else {
				data, _ = states.Marshal(states.Enqueued{Queue: "q", EnqueuedAt: time.Now()})
			}
			jobs[i] = &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "bulk", Args: []byte(`{}`), Queue: []string{"default", "mail", "reports"}[k%3],
				Priority: k % 2, State: st, StateData: data, RunAt: runAt, CreatedAt: time.Now()}
		}
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
		require.NoError(b, err)
		var trs []storage.Transition
		for i, j := range jobs {
			if j.State != states.NameEnqueued || (n+i)%10 == 0 { // one in ten stays enqueued or scheduled
				continue
			}
			to, data := states.NameSucceeded, []byte(`{"succeeded_at":"2026-01-01T00:00:00Z"}`)
			if (n+i)%10 == 1 {
				to, data = states.NameFailed, []byte(`{"failed_at":"2026-01-01T00:00:00Z","error_message":"boom"}`)
			}
			trs = append(trs, storage.Transition{ID: j.ID, To: to, Data: data})
		}
		_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: trs})
		require.NoError(b, err)
	}
	for _, p := range []storage.ListParams{
		{State: states.NameSucceeded}, {State: states.NameSucceeded, Queue: "mail"}, {State: states.NameFailed},
		{State: states.NameEnqueued}, {State: states.NameEnqueued, Queue: "mail"}, {State: states.NameScheduled},
	} {
		p.Limit = 20
		all, err := s.List(ctx, &storage.ListParams{State: p.State, Queue: p.Queue})
		require.NoError(b, err)
		deep := p
		deep.Cursor = all[len(all)*3/4].Cursor
		last := p
		last.Backward = true
		for name, q := range map[string]storage.ListParams{"first": p, "deep": deep, "last": last} {
			b.Run(string(p.State)+"/"+p.Queue+"/"+name, func(b *testing.B) {
				for b.Loop() {
					jobs, err := s.List(ctx, &q)
					if err != nil || len(jobs) != 20 {
						b.Fatalf("%d jobs, %v", len(jobs), err)
					}
				}
			})
		}
	}
}

// BenchmarkListDeepPage measures a page of 20 of each list of a large
// store (TASKFLOW_BENCH_LIST_JOBS jobs, 200,000 unless set: a third
// Enqueued, a third Scheduled, a third Succeeded), from a cursor in the
// middle of the list and from the end (the "last" link): among them the
// lists of every state, and of the continuations of a job (one job in a
// hundred continues it). One op is one page; redis-µs/page is the
// server's CPU time per page. index-B/job is the memory the indexes of
// lists of every state and by parent take per job, store-B/job the memory
// of the whole store (Redis' used_memory) per job. The last case is the
// first list of a store written before those indexes, which files its
// jobs in them.
func BenchmarkListDeepPage(b *testing.B) {
	n := 200_000
	if v := os.Getenv("TASKFLOW_BENCH_LIST_JOBS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	client := testClient(b)
	ctx := context.Background()
	s := newStore(b, client)
	const batch = 500
	start := time.Now().Add(time.Hour)
	before := usedMemory(b, client)
	// One job in a hundred continues parent, which stays Enqueued in a
	// queue of its own.
	parent := enqueuedJob(b, func(j *storage.Job) { j.Queue = "parents" })
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{parent}})
	require.NoError(b, err)
	awaiting, _ := states.Marshal(states.Awaiting{ParentID: parent.ID.String(), On: states.OnSuccess})
	for done := 0; done < n; done += batch {
		jobs := make([]*storage.Job, min(batch, n-done))
		for i := range jobs {
			if (done+i)%100 == 50 {
				jobs[i] = enqueuedJob(b, func(j *storage.Job) {
					j.State, j.StateData, j.ParentID = states.NameAwaiting, awaiting, parent.ID
				})
				continue
			}
			jobs[i] = enqueuedJob(b, func(j *storage.Job) {
				j.Priority = (done + i) % 3
				if (done+i)%3 == 1 {
					at := start.Add(time.Duration((done+i)*7919%n) * time.Second)
					j.State, j.RunAt = states.NameScheduled, at
					j.StateData, _ = states.Marshal(states.Scheduled{EnqueueAt: at, ScheduledAt: j.CreatedAt, Reason: "delayed"})
				}
			})
		}
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
		require.NoError(b, err)
	}
	_, err = s.List(ctx, &storage.ListParams{Limit: 1}) // files the jobs of a store written before the indexes of lists
	require.NoError(b, err)
	// Half the Enqueued jobs complete (a third of the store).
	data, _ := states.Marshal(states.Succeeded{SucceededAt: time.Now(), Result: []byte(`{}`)})
	for left := n / 3; left > 0; {
		jobs, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: min(batch, left), Owner: "bench", LeaseFor: time.Hour})
		require.NoError(b, err)
		require.NotEmpty(b, jobs)
		ts := make([]storage.Transition, len(jobs))
		for i, j := range jobs {
			ts[i] = storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: data}
		}
		_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
		require.NoError(b, err)
		left -= len(jobs)
	}
	var indexBytes int64
	for _, key := range []string{"s:active:default", "s:active:parents", "c:" + parent.ID.String()} {
		n, err := client.MemoryUsage(ctx, s.k.prefix+key, 0).Result()
		if !errors.Is(err, redis.Nil) {
			require.NoError(b, err)
		}
		indexBytes += n
	}
	storeBytes := usedMemory(b, client) - before
	// middle returns the cursor of the job in the middle of sorted set key.
	middle := func(key string) string {
		n, err := client.ZCard(ctx, key).Result()
		require.NoError(b, err)
		z, err := client.ZRangeWithScores(ctx, key, n/2, n/2).Result()
		require.NoError(b, err)
		require.Len(b, z, 1)
		return strconv.FormatFloat(z[0].Score, 'f', -1, 64) + " " + z[0].Member.(string)
	}
	// halfway returns the cursor of the job in the middle of list p.
	halfway := func(p storage.ListParams) string {
		all, err := s.List(ctx, &p)
		require.NoError(b, err)
		require.NotEmpty(b, all)
		return all[len(all)/2].Cursor
	}
	for _, tt := range []struct {
		name string
		p    storage.ListParams
	}{
		{"EnqueuedMiddle", storage.ListParams{State: states.NameEnqueued, Cursor: middle(s.k.prefix + "q:default")}},
		{"EnqueuedLast", storage.ListParams{State: states.NameEnqueued, Backward: true}},
		{"ScheduledMiddle", storage.ListParams{State: states.NameScheduled, Cursor: middle(s.k.prefix + "sched")}},
		{"ScheduledLast", storage.ListParams{State: states.NameScheduled, Backward: true}},
		{"SucceededMiddle", storage.ListParams{State: states.NameSucceeded, Cursor: middle(s.k.prefix + "s:succeeded:default")}},
		{"SucceededLast", storage.ListParams{State: states.NameSucceeded, Backward: true}},
		{"SucceededOfATaskMiddle", storage.ListParams{State: states.NameSucceeded, Task: "t", Cursor: middle(s.k.prefix + "s:succeeded:default")}},
		{"EveryStateFirst", storage.ListParams{}},
		{"EveryStateMiddle", storage.ListParams{Cursor: halfway(storage.ListParams{})}},
		{"EveryStateLast", storage.ListParams{Backward: true}},
		{"EveryStateOfATaskMiddle", storage.ListParams{Task: "t", Cursor: halfway(storage.ListParams{})}},
		{"ContinuationsFirst", storage.ListParams{ParentID: parent.ID}},
		{"ContinuationsMiddle", storage.ListParams{ParentID: parent.ID, Cursor: halfway(storage.ListParams{ParentID: parent.ID})}},
		{"ContinuationsLast", storage.ListParams{ParentID: parent.ID, Backward: true}},
		{"ContinuationsOfAJobWithNone", storage.ListParams{ParentID: uuid.Must(uuid.NewV7())}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			p := tt.p
			p.Limit = 20
			cpu := serverCPU(b, client)
			b.ResetTimer()
			for b.Loop() {
				jobs, err := s.List(ctx, &p)
				require.NoError(b, err)
				if p.ParentID != uuid.Nil && p.ParentID != parent.ID {
					require.Empty(b, jobs)
				} else {
					require.Len(b, jobs, p.Limit)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((serverCPU(b, client)-cpu).Microseconds())/float64(b.N), "redis-µs/page")
			b.ReportMetric(float64(indexBytes)/float64(n+1), "index-B/job")
			b.ReportMetric(float64(storeBytes)/float64(n+1), "store-B/job")
		})
	}
	// The first list of every state of the store as an earlier release
	// wrote it, without the indexes that list reads: it files every job.
	b.Run("EveryStateFirstOfAStoreWrittenBefore", func(b *testing.B) {
		p := storage.ListParams{Limit: 20}
		var cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			for _, key := range []string{"s:active:*", "c:*", "ix"} {
				require.NoError(b, deleteKeys(ctx, client, s.k.prefix+key))
			}
			before := serverCPU(b, client)
			b.StartTimer()
			jobs, err := s.List(ctx, &p)
			b.StopTimer()
			cpu += serverCPU(b, client) - before
			b.StartTimer()
			require.NoError(b, err)
			require.Len(b, jobs, p.Limit)
		}
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "redis-µs/page")
	})
}

// usedMemory returns the memory the Redis server has allocated.
func usedMemory(b *testing.B, c redis.UniversalClient) int64 {
	info, err := c.Info(context.Background(), "memory").Result()
	require.NoError(b, err)
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(b, err)
			return n
		}
	}
	b.Fatal("no used_memory in INFO memory")
	return 0
}
