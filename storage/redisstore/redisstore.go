// Package redisstore is a Redis taskflow store built on go-redis/v9. It
// passes the whole storage conformance suite (package storagetest) and
// implements every optional interface of package storage: unique keys,
// continuations, batches and their listing, recurring jobs, locks, the
// worker registry, queue pause, statistics, job logs, monitoring queries,
// pruning, wake-ups (Redis pub/sub) and flow control (see Flow control).
//
// # Setup
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	defer client.Close()
//	store := redisstore.New(client)
//
// Any [redis.UniversalClient] works: a single server, a Sentinel failover
// client or a Redis Cluster client. The client belongs to the caller:
// taskflow never closes it. It needs Redis 7.0 or later (Redis functions),
// and is tested with Redis 7.0.
//
// # Layout and atomicity
//
// Every change to jobs, and every batch of changes, is one Lua call (a
// function of the job library, loaded once per server with FUNCTION LOAD,
// or a script): atomic and one round trip, whether it creates a thousand
// jobs, leases a hundred or completes a batch of them. Create calls (of
// jobs that await no parent) made while two others of the same store are
// on their way wait and go together in one call, each still stored all or
// none, so that concurrent single enqueues share the cost of a call. A job is one hash; its history is
// kept in fields of that hash, one field per entry, the last one being its
// current state, so that a change appends without reading what it replaces;
// values are cut into 64-byte pieces so that small jobs stay in Redis'
// compact encoding. Enqueued jobs wait in one sorted set per queue, scored
// by priority, first-enqueued first within a priority; Scheduled jobs,
// leases and expiring final jobs sit in sorted sets scored by time. Fencing
// tokens follow the server's clock (see Durability) and are compared, with
// the lease's owner, inside the scripts.
//
// Every key of a store carries one hash tag, the store's name in braces
// ("{taskflow}:…", see [Name]), so a store runs unchanged on Redis Cluster,
// where all of its keys live in one slot, on one master. Stores with other
// names live in other slots: give separate stores (say, one per group of
// queues) different names to spread them over the masters, or spread one
// store over several slots with [NewSharded]. Fetch order (queues as listed,
// then priority, then first enqueued) holds within a store; a worker serves
// one store. The enqueue sequence that orders jobs of equal priority is the
// Redis server's clock in microseconds (one more than the last sequence
// when the clock has not moved on), so sequences of different slots
// compare.
//
// # Shards
//
// One slot is one master's core: about 20,000 jobs/s leased and completed
// (docs/PERFORMANCE.md). [NewSharded](client, n) returns a [Sharded]
// store: n complete stores of the layout above, its shards, each with its
// own hash tag: shard 0 the store's name ("{taskflow}:…", the store [New]
// returns), shard i "{taskflow:k}:…", k chosen so that on a cluster whose n
// masters hold equal slot ranges (as redis-cli --cluster create gives
// them) each shard lands on its own master ([Sharded.ShardTags] lists them).
// What holds across shards:
//
//   - Create: a call goes whole to one shard, so it stays all or none:
//     the shard of the stored job its continuations await, shard 0 for a
//     job with a batch, a unique key, a partition key or a limit (every
//     batch, unique key and limit lives
//     there: such jobs do not spread), else the shard the first job's ID
//     hashes to. A call whose jobs belong on different shards (a job of a
//     batch, or with a unique key, that awaits a job stored on a shard
//     other than 0) fails with [ErrShardConflict]. The other shards are
//     checked for the call's IDs first: two calls with one job ID, made at
//     the same moment and first jobs of different IDs, may both succeed.
//   - Fetch reads the heads of its queues on every shard, merges them in
//     the order above (sequences compared across shards, so first enqueued
//     first holds up to the clock difference between the masters), and
//     leases from each shard its part of the first Limit; jobs another
//     fetcher took meanwhile are made up for from the shards that still
//     have some. Order within a shard is exact; across shards it is exact
//     in a store that nothing else changes meanwhile.
//   - Transition: the changes of a call are one atomic step per shard; a
//     fencing token names its job's shard (a shard's token t is handed out
//     as t·n + shard), a change without one is applied where the job is.
//     With AllOrNothing over several shards every shard first checks its
//     changes (nothing applied), then applies them: a change made by
//     another call in between can fail one shard's part while the others
//     are applied, each failure reported.
//   - Continuations live on their parent's shard and batches on shard 0, so
//     they are resolved in the same atomic step as before.
//   - Shard 0 holds recurring definitions (jobs they fire go there), locks
//     and the worker list; heartbeats go to every shard, so that each
//     returns the jobs of dead workers. Pausing a queue writes every shard.
//   - Subscribe listens to the wake-ups of every shard (on a cluster, each
//     on the master that publishes them).
//   - Get, Peek, job logs and changes without a token read every shard at
//     once; counts, listings, queues and statistics are summed or merged;
//     PromoteDue, ReclaimExpired and DeleteExpired go round the shards up
//     to their limit, each call starting at the next shard.
//
// The shard count is part of the layout, as the name is: every process of
// a store must give the same, and a store with jobs must not change it.
//
// A master that fails takes its shard down until a replica takes over (or
// for good, with none). Run the cluster with
// cluster-require-full-coverage no, so that the other masters keep
// serving their slots meanwhile (with the default, yes, Redis answers
// CLUSTERDOWN for every slot, and every shard stops): then the healthy
// shards keep working. Fetch, lease renewal and heartbeats, and the
// promotion, reclaim, pruning and dead-worker checks serve the shards that
// answer and fail only when none does; a Create call free to go to any
// shard (no batch, unique key or parent) goes to one that answers, its
// IDs left unchecked on the shard that is down. What lives on the shard
// that is down (its jobs, shard 0's batches, unique keys, recurring
// definitions and locks) waits for it; calls that need it fail.
//
// The price: a fetch makes two round trips (the heads, then the leases)
// and a Create one more (the other shards' check), and the masters do
// about a tenth more work in all; in return a queue's busiest master does
// 2.4 times less with three shards on three masters (docs/PERFORMANCE.md).
// Give a store as many shards as it has masters to spread over.
//
// # Flow control
//
// The store implements [storage.FlowControl]: concurrency and rate limits
// per queue, task and partition, checked, and slots and rate steps taken,
// inside the fetch script, so no number of workers exceeds them. The
// limits, the count of leased jobs per concurrency limit (and partition)
// and the GCRA time of each rate limit live in hashes beside the jobs; a
// job leaving Processing by any path (a transition, a reclaimed lease, a
// dead worker) gives its slot back in the script that moves it, and
// SetLimits counts the leased jobs again under the limits it stores, in
// one call. A queue is served by partition (round robin between the
// partitions, task and partition key, of each priority; a partition held
// back by its limit is passed over, never blocking the others) from the
// first time a job with a partition key is filed in it or a limit holds
// back one of its jobs; other queues keep the plain path, whose cost
// grows by one read of the limits per call. Limits that never bind cost
// little on the plain path; a queue served by partition costs a few more
// commands per job leased (docs/PERFORMANCE.md). LimitUsage reads every
// Processing job, and the Enqueued jobs of queues not served by
// partition: a monitoring call. CountHeld reads nothing more than the
// limits' counts while no limit is full (see its documentation).
//
// On a [Sharded] store, limits live on shard 0, and a Create call
// with a job that has a partition key, or that a limit stored at that
// moment applies to (its queue's, its task's), goes to shard 0 too: one
// script sees every job a limit counts, so limits stay exact, and such
// jobs do not spread over the shards. A limit stored after jobs were
// filed on other shards does not apply to those jobs.
//
// # Retention
//
// Final jobs given an expiry (the worker's retention) are removed, with
// their history, logs and progress, by [Store.DeleteExpired], which the
// worker calls periodically; statistics older than
// [storage.StatsRetention] go with the same call. Nothing else grows
// without bound: unique keys go with their jobs, batches with their last
// job, locks and leases expire, a job keeps its latest [MaxLogRecords] log
// records, and a queue is forgotten as its last job leaves it.
//
// # Monitoring
//
// List, Count and ListQueues read the sets they need a page at a time,
// each page one command or one script over a page of names, so that no
// call holds Redis for long on a large store; a listing made while jobs
// move may miss one that moves, as paging would.
//
// # Durability
//
// Redis must keep every key until the store deletes it: use the default
// maxmemory-policy, noeviction (an evicting policy loses jobs), and size
// the server for the jobs retained. What survives a Redis restart is what
// Redis persisted: with no persistence, everything is lost; with
// appendfsync everysec, the last second of changes may be lost; with
// appendfsync always, nothing that was acknowledged is; a replica promoted
// to master lacks what it had not received. Jobs whose lease was lost with
// a crash are reclaimed once their lease expires. A lease lost that way is
// never handed out again under its token: tokens are the server's clock in
// microseconds (one more than the last token when that is later), and a
// server that finds a last token other than the one it wrote itself (it
// restarted, was promoted, or lost the key) starts a second past its
// clock. So an attempt whose lease was lost cannot store its outcome, as
// long as the clocks of a master and the replica that takes over agree
// within the outage plus a second. go-redis reconnects by itself; the job function
// library and the scripts are loaded again on a server that lost them (a
// restart without persistence, a new cluster master).
//
// # Time
//
// Times are kept in whole microseconds. A zero Now in a call means the
// process' clock (see [WithClock]); heartbeats and locks use the Redis
// server's clock.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/storage"
)

var (
	_ storage.Store         = (*Store)(nil)
	_ storage.Notifier      = (*Store)(nil)
	_ storage.Lister        = (*Store)(nil)
	_ storage.Pruner        = (*Store)(nil)
	_ storage.Peeker        = (*Store)(nil)
	_ storage.Queues        = (*Store)(nil)
	_ storage.Statistics    = (*Store)(nil)
	_ storage.JobLogs       = (*Store)(nil)
	_ storage.UniqueKeys    = (*Store)(nil)
	_ storage.Continuations = (*Store)(nil)
	_ storage.Batches       = (*Store)(nil)
	_ storage.BatchLister   = (*Store)(nil)
	_ storage.Recurring     = (*Store)(nil)
	_ storage.Locker        = (*Store)(nil)
	_ storage.Workers       = (*Store)(nil)
)

// DefaultName is the name, and hash tag, of a store unless [Name] gives
// another.
const DefaultName = "taskflow"

// maxPriority bounds the magnitude of a job's priority: a sorted-set score
// is a float64, exact up to 2^53.
const maxPriority = 1 << 53

// ErrInvalidName means a store name is empty or holds a brace.
var ErrInvalidName = errors.New("redisstore: invalid store name")

// ErrInvalidPriority means a job's priority lies beyond ±2^53, which a
// sorted-set score cannot hold exactly.
var ErrInvalidPriority = errors.New("redisstore: priority out of range")

// Option configures [New].
type Option func(*Store)

// Name sets the store's name, [DefaultName] unless given. Every key of the
// store starts with "{name}:"; the braces make the name the keys' Redis
// Cluster hash tag. Stores with different names on one server are
// independent. The name must not be empty or hold '{' or '}'; otherwise
// every call of the store returns an error wrapping [ErrInvalidName].
func Name(name string) Option {
	return func(s *Store) {
		s.name, s.k = name, keys{prefix: "{" + name + "}:"}
		if name == "" || strings.ContainsAny(name, "{}") {
			s.err = fmt.Errorf("%w %q: want a non-empty name without braces", ErrInvalidName, name)
		}
	}
}

// WithClock makes the store read time from now instead of time.Now when a
// call carries no Now of its own.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Store is a Redis [storage.Store] with every optional capability of
// package storage. Create one with [New]; it is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	name string
	k    keys
	now  func() time.Time
	err  error // an invalid option; every call returns it

	gather gatherer // Create calls waiting to go together (gather.go)
	wakes  wakes    // the subscription of Subscribe (notify.go)
}

// New returns a store on client. The client belongs to the caller.
func New(client redis.UniversalClient, opts ...Option) *Store {
	s := &Store{rdb: client, name: DefaultName, k: keys{prefix: "{" + DefaultName + "}:"}, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Store) clock(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

// begin checks what every call checks first: a valid store and a live ctx.
func (s *Store) begin(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	return ctx.Err()
}

// micros encodes t as Unix microseconds; "" for the zero time.
func micros(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

// fromMicros decodes what micros encoded.
func fromMicros(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil { // a score
			return time.UnixMicro(int64(f)).UTC()
		}
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// wrap names the operation in a failure of Redis.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}
