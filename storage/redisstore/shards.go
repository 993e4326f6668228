package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// A store of n shards (see [Sharded]) is n complete stores of the
// unsharded layout, each with its own hash tag, so each lives in its own Redis
// Cluster slot; the Sharded store spreads work over them and gathers
// their answers, and is shard 0 itself for what only shard 0 holds. Shard 0 has the store's name as its tag ("{name}:…", the layout
// of an unsharded store); shard i > 0 has "{name:k}", k the smallest
// number from 1 whose slot falls in the i-th of the equal slot ranges that
// shard 0's range leaves (see shardTags), so that on a cluster whose
// masters hold equal contiguous ranges, as redis-cli --cluster create
// makes them, n shards on n masters land one on each.
//
// Where things live:
//   - Jobs: a Create call goes whole to one shard, so that it stays atomic:
//     the shard of a stored parent its continuations await, shard 0 when
//     a job has a batch or a unique key (every batch, and every unique key,
//     lives there), else the shard its first job's ID hashes to.
//   - Shard 0 holds the store-wide things: recurring definitions, locks,
//     limits and the worker list. Every shard keeps the workers' heartbeats, so that
//     each returns the jobs of dead workers; a queue's pause is written to
//     every shard.
//   - A fencing token tells the shard of its job: a shard's token t is
//     handed out as t*n + shard.
//
// Queries that name a job by ID (Get, Peek, transitions without a token,
// logs) look on every shard at once; statistics, counts, listings and
// queues are summed or merged over the shards.

// MaxShards is the most shards a store may have.
const MaxShards = 256

// ErrInvalidShards means a shard count is below 1 or above [MaxShards].
var ErrInvalidShards = errors.New("redisstore: invalid shard count")

var (
	_ storage.Store         = (*Sharded)(nil)
	_ storage.Notifier      = (*Sharded)(nil)
	_ storage.Lister        = (*Sharded)(nil)
	_ storage.Pruner        = (*Sharded)(nil)
	_ storage.Peeker        = (*Sharded)(nil)
	_ storage.Queues        = (*Sharded)(nil)
	_ storage.Statistics    = (*Sharded)(nil)
	_ storage.JobLogs       = (*Sharded)(nil)
	_ storage.UniqueKeys    = (*Sharded)(nil)
	_ storage.Continuations = (*Sharded)(nil)
	_ storage.Batches       = (*Sharded)(nil)
	_ storage.BatchLister   = (*Sharded)(nil)
	_ storage.Recurring     = (*Sharded)(nil)
	_ storage.Locker        = (*Sharded)(nil)
	_ storage.Workers       = (*Sharded)(nil)
	_ storage.FlowControl   = (*Sharded)(nil)
)

// Sharded is a Redis store spread over several shards, each in its own
// Redis Cluster slot, so that one queue's work spreads over several
// masters (see Shards in the package documentation). Create one with
// [NewSharded]; it has every capability a [Store] has and is safe for
// concurrent use.
type Sharded struct {
	home   *Store   // shard 0, whose keys carry the store's name
	shards []*Store // home first
	rot    atomic.Uint32
}

// NewSharded returns a store of n shards on client, configured by opts as
// [New] configures a store. Shard 0 is the store [New] would return, so
// that NewSharded(client, 1, opts...) keeps that store's layout. The shard
// count is part of the store's layout, as its name is: every process of a
// store must give the same, and a store with jobs must not change it (the
// jobs of shards it no longer counts would be hidden). If n is below 1 or
// above [MaxShards], every call returns an error wrapping
// [ErrInvalidShards]. The client belongs to the caller.
func NewSharded(client redis.UniversalClient, n int, opts ...Option) *Sharded {
	home := New(client, opts...)
	s := &Sharded{home: home, shards: []*Store{home}}
	switch {
	case n < 1 || n > MaxShards:
		if home.err == nil {
			home.err = fmt.Errorf("%w %d: want 1 to %d", ErrInvalidShards, n, MaxShards)
		}
	case home.err == nil:
		for _, tag := range shardTags(home.name, n)[1:] {
			s.shards = append(s.shards, &Store{rdb: client, name: tag, k: keys{prefix: "{" + tag + "}:"}, now: home.now})
		}
	}
	return s
}

// clusterSlots is the number of Redis Cluster hash slots.
const clusterSlots = 16384

// crc16 is the CRC16 (XMODEM) that maps a key's hash tag to its slot.
func crc16(b string) uint16 {
	var crc uint16
	for i := 0; i < len(b); i++ {
		crc ^= uint16(b[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// tagSlot returns the slot of the keys whose hash tag is tag.
func tagSlot(tag string) int { return int(crc16(tag)) % clusterSlots }

// slotRange returns the bounds, lo inclusive and hi exclusive, of range r
// of n equal ranges of slots, rounded as redis-cli --cluster create
// rounds the ranges it gives to n masters.
func slotRange(r, n int) (lo, hi int) {
	per := float64(clusterSlots) / float64(n)
	return int(math.Round(float64(r) * per)), int(math.Round(float64(r+1) * per))
}

// shardTags returns the hash tags of the n shards of the store named name.
func shardTags(name string, n int) []string {
	tags := []string{name}
	home := 0
	for r := range n {
		if lo, hi := slotRange(r, n); lo <= tagSlot(name) && tagSlot(name) < hi {
			home = r
		}
	}
	for r := range n {
		if r == home {
			continue
		}
		lo, hi := slotRange(r, n)
		for k := 1; ; k++ {
			tag := name + ":" + strconv.Itoa(k)
			if sl := tagSlot(tag); lo <= sl && sl < hi {
				tags = append(tags, tag)
				break
			}
		}
	}
	return tags
}

// ShardTags returns the hash tags of the store's shards, shard 0 first:
// the keys of shard i start with "{" + tags[i] + "}:".
func (s *Sharded) ShardTags() []string {
	tags := make([]string, len(s.shards))
	for i, sh := range s.shards {
		tags[i] = sh.name
	}
	return tags
}

// idShard returns the shard that a Create call whose first job has ID id
// goes to, when nothing else decides it.
func (s *Sharded) idShard(id uuid.UUID) int {
	h := fnv.New32a()
	_, _ = h.Write(id[:])
	return int(h.Sum32() % uint32(len(s.shards)))
}

// outToken returns the token that shard i's token tok is handed out as.
func (s *Sharded) outToken(i int, tok int64) int64 {
	if tok == 0 {
		return 0
	}
	return tok*int64(len(s.shards)) + int64(i)
}

// inToken returns the shard of a token handed out, and that shard's token.
func (s *Sharded) inToken(tok int64) (shard int, t int64) {
	n := int64(len(s.shards))
	return int(tok % n), tok / n
}

// outJobs gives the leases of jobs read from shard i their handed-out
// tokens.
func (s *Sharded) outJobs(i int, jobs []*storage.Job) {
	for _, j := range jobs {
		j.LeaseToken = s.outToken(i, j.LeaseToken)
	}
}

// eachShard calls f for every shard in idx at once and returns the first
// error.
func eachShard(idx []int, f func(i int) error) error {
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = f(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// someShards is eachShard for calls that serve what they can when a shard
// is down (its master failed, on a cluster that keeps serving the other
// slots: see cluster-require-full-coverage in the package documentation):
// it fails only when f fails on every shard of idx.
func someShards(idx []int, f func(i int) error) error {
	var (
		mu   sync.Mutex
		errs []error
	)
	err := eachShard(idx, func(i int) error {
		err := f(i)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		return err
	})
	if len(errs) < len(idx) {
		return nil
	}
	return err
}

// all returns 0 to n-1.
func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// locate returns the shard that holds each job of ids, -1 for none.
func (s *Sharded) locate(ctx context.Context, ids []uuid.UUID) ([]int, error) {
	cmds := make([][]*redis.IntCmd, len(s.shards))
	_, err := s.home.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, sh := range s.shards {
			cmds[i] = make([]*redis.IntCmd, len(ids))
			for k, id := range ids {
				cmds[i][k] = p.Exists(ctx, sh.k.job(id))
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("locate jobs", err)
	}
	out := make([]int, len(ids))
	for k := range ids {
		out[k] = -1
		for i := range s.shards {
			if cmds[i][k].Val() > 0 {
				out[k] = i
				break
			}
		}
	}
	return out, nil
}

// ErrShardConflict means the jobs of one Create call belong on different
// shards of a sharded store: a call goes whole to one shard.
var ErrShardConflict = fmt.Errorf("redisstore: the jobs of one call belong on different shards: %w", storage.ErrNotSupported)

// Create implements [storage.Store]: it creates the jobs on the one shard
// the call belongs on, after checking that no other shard holds one of
// their IDs.
func (s *Sharded) Create(ctx context.Context, p *storage.CreateParams) ([]uuid.UUID, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	if len(p.Jobs) == 0 {
		return []uuid.UUID{}, nil
	}
	inCall := map[uuid.UUID]bool{}
	for _, j := range p.Jobs {
		inCall[j.ID] = true
		if j.BatchID != uuid.Nil {
			inCall[j.BatchID] = true
		}
	}
	want := -1
	need := func(i int, why string) error {
		if want >= 0 && want != i {
			return fmt.Errorf("%w (%s on shard %d, another job on shard %d)", ErrShardConflict, why, i, want)
		}
		want = i
		return nil
	}
	var parents []uuid.UUID
	for _, j := range p.Jobs {
		if j.BatchID != uuid.Nil || j.UniqueKey != "" || j.Partition != "" {
			if err := need(0, fmt.Sprintf("job %s has a batch, a unique key or a partition", j.ID)); err != nil {
				return nil, err
			}
		}
		if j.ParentID != uuid.Nil && !inCall[j.ParentID] {
			parents = append(parents, j.ParentID)
		}
	}
	free := want < 0 && len(parents) == 0 // the call may go to any shard
	// One round: the call's IDs on every shard (duplicates; the shard the
	// call goes to checks its own again), and the shards of the stored
	// parents. A shard that does not answer is down: a call free to go
	// anywhere goes to another, and its IDs are not checked there.
	dups := make([]*redis.IntCmd, len(s.shards))
	found := make([][]*redis.IntCmd, len(s.shards))
	var limits *redis.MapStringStringCmd
	_, err := s.home.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		limits = pl.HGetAll(ctx, s.shards[0].k.limits())
		for i, sh := range s.shards {
			ks := make([]string, len(p.Jobs))
			for k, j := range p.Jobs {
				ks[k] = sh.k.job(j.ID)
			}
			dups[i] = pl.Exists(ctx, ks...)
			for _, id := range parents {
				found[i] = append(found[i], pl.Exists(ctx, sh.k.job(id)))
			}
		}
		return nil
	})
	if err != nil && (!free || !slices.ContainsFunc(dups, func(c *redis.IntCmd) bool { return c.Err() == nil })) {
		return nil, wrap("create", err)
	}
	for k, id := range parents {
		at := 0 // a batch, or no parent at all: shard 0 says which
		for i := range s.shards {
			if found[i][k].Val() > 0 {
				at = i
				break
			}
		}
		if err := need(at, fmt.Sprintf("parent %s", id)); err != nil {
			return nil, err
		}
	}
	if err := limitedOnShard0(p.Jobs, limits.Val(), need); err != nil {
		return nil, err
	}
	if want < 0 {
		want = s.idShard(p.Jobs[0].ID)
	}
	for x := range s.shards {
		if i := (want + x) % len(s.shards); !free || dups[i].Err() == nil {
			want = i
			break
		}
	}
	for i := range s.shards {
		if i != want && dups[i] != nil && dups[i].Val() > 0 {
			return nil, fmt.Errorf("redisstore: create: a job of the call exists on shard %d: %w", i, storage.ErrDuplicate)
		}
	}
	return s.shards[want].Create(ctx, p)
}

// limitedOnShard0 calls need(0) for each of jobs that a stored limit
// (limits, shard 0's limit hash) applies to: on a sharded store such jobs
// live on shard 0, with the limits, so that one fetch script counts them
// all.
func limitedOnShard0(jobs []*storage.Job, limits map[string]string, need func(int, string) error) error {
	if len(limits) == 0 {
		return nil
	}
	for _, j := range jobs {
		for _, key := range []string{"queue:" + j.Queue, "task:" + j.Task, "partition:" + j.Task} {
			if _, ok := limits[key]; ok {
				if err := need(0, fmt.Sprintf("job %s is under limit %s", j.ID, key)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// head is a job at the head of a queue of a shard, as Fetch plans.
type head struct {
	shard, queue int // queue: its index in Fetch's order
	score        float64
	seq          int64
	id           string
}

// Fetch implements [storage.Store]: it reads the heads of the queues of
// every shard, merges them in the order Fetch serves, and leases from each
// shard as many jobs as it has among the first Limit: in a store that
// nothing else changes meanwhile they are exactly those. Jobs taken by
// others meanwhile are made up for from the shards that still have some,
// for a few rounds.
func (s *Sharded) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	if err := s.home.beginFetch(ctx, p); err != nil {
		return nil, err
	}
	ranges := fetchRanges(p)
	if len(ranges) == 0 {
		return nil, nil
	}
	q := *p
	q.Now = s.home.clock(p.Now)
	var out []*storage.Job
	for round := 0; round < 3 && len(out) < p.Limit; round++ {
		q.Limit = p.Limit - len(out)
		plan, rank, err := s.fetchPlan(ctx, &q, ranges)
		if err != nil {
			return nil, err
		}
		got := make([][]*storage.Job, len(s.shards))
		var idx []int
		for i, n := range plan {
			if n > 0 {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			break
		}
		err = eachShard(idx, func(i int) error {
			sq := q
			sq.Limit = plan[i]
			jobs, err := s.shards[i].Fetch(ctx, &sq)
			s.outJobs(i, jobs)
			got[i] = jobs
			return err
		})
		short := false
		var these []*storage.Job
		for i, jobs := range got {
			these = append(these, jobs...)
			short = short || len(jobs) < plan[i]
		}
		order := func(j *storage.Job) int {
			if r, ok := rank[j.ID.String()]; ok {
				return r
			}
			return len(rank)
		}
		slices.SortStableFunc(these, func(a, b *storage.Job) int { return cmp.Compare(order(a), order(b)) })
		out = append(out, these...)
		if err != nil {
			return out, err // the jobs leased are returned: their leases expire if unused
		}
		if !short {
			break
		}
	}
	return out, nil
}

// fetchPlan returns how many jobs to lease from each shard, and the rank
// of each job planned in the order Fetch serves.
func (s *Sharded) fetchPlan(ctx context.Context, p *storage.FetchParams, ranges []any) ([]int, map[string]int, error) {
	nq := len(ranges) / 3
	queues := make([]string, nq)
	for r := range nq {
		queues[r] = ranges[3*r].(string)
	}
	paused := make([]*redis.BoolSliceCmd, len(s.shards))
	zs := make([][]*redis.ZSliceCmd, len(s.shards))
	_, err := s.home.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, sh := range s.shards {
			paused[i] = pl.SMIsMember(ctx, sh.k.paused(), anys(queues)...)
			for r := range nq {
				zs[i] = append(zs[i], pl.ZRangeByScoreWithScores(ctx, sh.k.prefix+"q:"+queues[r],
					&redis.ZRangeBy{Min: ranges[3*r+1].(string), Max: ranges[3*r+2].(string), Count: int64(p.Limit)}))
			}
		}
		return nil
	})
	// A shard that does not answer is down: the others are served.
	down := func(i int) bool {
		return paused[i].Err() != nil || slices.ContainsFunc(zs[i], func(c *redis.ZSliceCmd) bool { return c.Err() != nil })
	}
	if err != nil && !slices.ContainsFunc(all(len(s.shards)), func(i int) bool { return !down(i) }) {
		return nil, nil, wrap("fetch", err)
	}
	var heads []head
	for i := range s.shards {
		if down(i) {
			continue
		}
		for r := range nq {
			if v := paused[i].Val(); r < len(v) && v[r] {
				continue
			}
			for _, z := range zs[i][r].Val() {
				m, _ := z.Member.(string)
				if len(m) < 36 {
					continue
				}
				seq, _ := strconv.ParseInt(m[:len(m)-36], 10, 64)
				heads = append(heads, head{shard: i, queue: r, score: z.Score, seq: seq, id: m[len(m)-36:]})
			}
		}
	}
	slices.SortFunc(heads, func(a, b head) int {
		return cmp.Or(cmp.Compare(a.queue, b.queue), cmp.Compare(a.score, b.score), cmp.Compare(a.seq, b.seq), cmp.Compare(a.shard, b.shard))
	})
	plan := make([]int, len(s.shards))
	rank := map[string]int{}
	for k, h := range heads[:min(len(heads), p.Limit)] {
		plan[h.shard]++
		rank[h.id] = k
	}
	return plan, rank, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}

// Transition implements [storage.Store]: it applies each change on its
// job's shard: the shard its token names, or the one that holds the job.
// Changes on one shard are one atomic step; with AllOrNothing over several
// shards, each shard's changes are first checked (a call that must fail:
// see dryRun), then applied.
func (s *Sharded) Transition(ctx context.Context, p *storage.TransitionParams) ([]error, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	if len(p.Transitions) == 0 {
		return []error{}, nil
	}
	n, now := len(p.Transitions), s.home.clock(p.Now)
	shardOf, toks := make([]int, n), make([]int64, n)
	routed := make([]bool, n) // by its token, not located
	var lookup []uuid.UUID
	for k, t := range p.Transitions {
		if t.Token > 0 && !p.AllOrNothing {
			shardOf[k], toks[k] = s.inToken(t.Token)
			routed[k] = true
		} else {
			lookup = append(lookup, t.ID)
		}
	}
	if len(lookup) > 0 {
		at, err := s.locate(ctx, lookup)
		if err != nil {
			return nil, err
		}
		x := 0
		for k, t := range p.Transitions {
			if routed[k] {
				continue
			}
			shardOf[k] = at[x]
			x++
			if t.Token != 0 {
				toks[k] = -1 // held by no lease of the job's shard
				if at, in := s.inToken(t.Token); t.Token > 0 && at == shardOf[k] {
					toks[k] = in
				}
			}
		}
	}
	errs := make([]error, n)
	groups := map[int][]int{}
	for k := range p.Transitions {
		if shardOf[k] < 0 {
			errs[k] = fmt.Errorf("redisstore: job %s: %w", p.Transitions[k].ID, storage.ErrNotFound)
			continue
		}
		groups[shardOf[k]] = append(groups[shardOf[k]], k)
	}
	sub := func(i int, dry bool) *storage.TransitionParams {
		q := &storage.TransitionParams{AllOrNothing: p.AllOrNothing, Now: now, Retention: p.Retention}
		for _, k := range groups[i] {
			t := p.Transitions[k]
			t.Token = toks[k]
			q.Transitions = append(q.Transitions, t)
		}
		if dry {
			q.Transitions = append(q.Transitions, dryRun)
		}
		return q
	}
	idx := make([]int, 0, len(groups))
	for i := range groups {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	run := func(dry bool) error {
		var mu sync.Mutex
		return eachShard(idx, func(i int) error {
			res, err := s.shards[i].Transition(ctx, sub(i, dry))
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for x, k := range groups[i] {
				if res[x] != nil {
					errs[k] = res[x]
				}
			}
			return nil
		})
	}
	if p.AllOrNothing && (len(idx) > 1 || errors.Join(errs...) != nil) {
		if err := run(true); err != nil {
			return nil, err
		}
		if errors.Join(errs...) != nil {
			return errs, nil
		}
	}
	if err := run(false); err != nil {
		return nil, err
	}
	if p.AllOrNothing {
		return errs, nil
	}
	// A token that names a shard without the job: the job, if another
	// shard holds it, is not held under that token.
	var missed []int
	var ids []uuid.UUID
	for k := range p.Transitions {
		if routed[k] && errors.Is(errs[k], storage.ErrNotFound) {
			missed = append(missed, k)
			ids = append(ids, p.Transitions[k].ID)
		}
	}
	if len(missed) > 0 {
		at, err := s.locate(ctx, ids)
		if err != nil {
			return nil, err
		}
		for x, k := range missed {
			if at[x] >= 0 {
				t := p.Transitions[k]
				errs[k] = fmt.Errorf("redisstore: job %s token %d: %w", t.ID, t.Token, storage.ErrLeaseLost)
			}
		}
	}
	return errs, nil
}

// dryRun is a change of a job that cannot exist: appended to an
// AllOrNothing call, it makes the call check every change and apply none.
var dryRun = storage.Transition{ID: uuid.Nil, To: "deleted"}

// ExtendLeases implements [storage.Store]: it extends each lease on its
// token's shard, and records the worker's heartbeat on every shard.
func (s *Sharded) ExtendLeases(ctx context.Context, p *storage.ExtendParams) ([]storage.LostLease, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	jobs := make([]map[uuid.UUID]int64, len(s.shards))
	for id, tok := range p.Jobs {
		i, t := 0, int64(-1)
		if tok > 0 {
			i, t = s.inToken(tok)
		}
		if jobs[i] == nil {
			jobs[i] = map[uuid.UUID]int64{}
		}
		jobs[i][id] = t
	}
	var idx []int
	for i := range s.shards {
		if jobs[i] != nil || p.Worker != nil {
			idx = append(idx, i)
		}
	}
	var (
		mu   sync.Mutex
		lost []storage.LostLease
	)
	// A shard that is down renews none of its leases: those jobs' attempts
	// cannot store their outcome either until it is back.
	err := someShards(idx, func(i int) error {
		l, err := s.shards[i].ExtendLeases(ctx, &storage.ExtendParams{Owner: p.Owner, Worker: p.Worker, Jobs: jobs[i], Until: p.Until})
		mu.Lock()
		lost = append(lost, l...)
		mu.Unlock()
		return err
	})
	if err != nil {
		return nil, err
	}
	// A token that names a shard without the job: the job, if another
	// shard holds it, is in the state read there.
	var missing []*redis.StringCmd
	var at []int
	_, err = s.home.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for k, l := range lost {
			if l.State == "" {
				for _, sh := range s.shards {
					missing = append(missing, pl.HGet(ctx, sh.k.job(l.ID), "s"))
					at = append(at, k)
				}
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !slices.ContainsFunc(missing, func(c *redis.StringCmd) bool {
		return c.Err() == nil || errors.Is(c.Err(), redis.Nil)
	}) {
		return nil, wrap("extend leases", err)
	}
	for x, c := range missing {
		if c.Val() != "" {
			lost[at[x]].State = states.Name(c.Val())
		}
	}
	return lost, nil
}

// start returns the shard to begin a round over every shard at, a
// different one each call, so that a limit reached on one shard does not
// starve the others.
func (s *Sharded) start() int { return int(s.rot.Add(1) % uint32(len(s.shards))) }

// PromoteDue implements [storage.Store]: it promotes on every shard, up to
// the limit in all.
func (s *Sharded) PromoteDue(ctx context.Context, p *storage.PromoteParams) (storage.PromoteResult, error) {
	if err := s.home.begin(ctx); err != nil {
		return storage.PromoteResult{}, err
	}
	var out storage.PromoteResult
	first := s.start()
	q := *p
	q.Now = s.home.clock(p.Now)
	var errs []error
	for x := range s.shards {
		i := (first + x) % len(s.shards)
		q.Limit = max(p.Limit-out.Promoted, 0)
		r, err := s.shards[i].PromoteDue(ctx, &q)
		if err != nil { // a shard that is down is left for later
			errs = append(errs, err)
			continue
		}
		out.Promoted += r.Promoted
		if !r.Next.IsZero() && (out.Next.IsZero() || r.Next.Before(out.Next)) {
			out.Next = r.Next
		}
	}
	if len(errs) == len(s.shards) {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// roundRobin calls f on every shard in turn with what is left of limit,
// until none is left, and returns the sum of what f returns.
func (s *Sharded) roundRobin(limit int, f func(sh *Store, limit int) (int, error)) (int, error) {
	n, failed := 0, 0
	var errs []error
	first := s.start()
	for x := range s.shards {
		if n >= limit {
			break
		}
		got, err := f(s.shards[(first+x)%len(s.shards)], limit-n)
		n += got
		if err != nil {
			errs = append(errs, err)
			failed++
		}
	}
	if failed < len(s.shards) { // a shard that is down is left for later
		return n, nil
	}
	return n, errors.Join(errs...)
}

// Get implements [storage.Store].
func (s *Sharded) Get(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	return s.get(ctx, id, true)
}

// Peek implements [storage.Peeker].
func (s *Sharded) Peek(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	return s.get(ctx, id, false)
}

// get reads the job from every shard at once.
func (s *Sharded) get(ctx context.Context, id uuid.UUID, withHistory bool) (*storage.Job, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	cmds := make([]*redis.MapStringStringCmd, len(s.shards))
	_, err := s.home.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, sh := range s.shards {
			cmds[i] = p.HGetAll(ctx, sh.k.job(id))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("get", err)
	}
	for i, c := range cmds {
		if len(c.Val()) > 0 {
			j, err := jobOfHash(id, c.Val(), withHistory)
			if err != nil {
				return nil, err
			}
			j.LeaseToken = s.outToken(i, j.LeaseToken)
			return j, nil
		}
	}
	return nil, fmt.Errorf("redisstore: job %s: %w", id, storage.ErrNotFound)
}

// List implements [storage.Lister]: it merges the lists of every shard,
// in the list's order.
func (s *Sharded) List(ctx context.Context, p *storage.ListParams) ([]*storage.Job, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	q := *p
	q.Offset = 0
	if p.Limit > 0 {
		q.Limit = max(p.Offset, 0) + p.Limit
	}
	lists := make([][]*storage.Job, len(s.shards))
	err := eachShard(all(len(s.shards)), func(i int) error {
		jobs, err := s.shards[i].List(ctx, &q)
		s.outJobs(i, jobs)
		lists[i] = jobs
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []*storage.Job
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.SortFunc(out, func(a, b *storage.Job) int { return compareCursors(p, a.Cursor, b.Cursor) })
	out = out[min(max(p.Offset, 0), len(out)):]
	if p.Limit > 0 && len(out) > p.Limit {
		out = out[:p.Limit]
	}
	return out, nil
}

// compareCursors orders two jobs of the list p by their cursors (see
// list in listing.go), in the order p walks: by score, then member, for
// Enqueued and Scheduled jobs (the shards' enqueue sequences follow the
// clock, so a queue's jobs interleave as they were enqueued); by member
// (the ID), newest first, for the others.
func compareCursors(p *storage.ListParams, a, b string) int {
	return compareEntries(p, place(a), place(b))
}

// place returns the entry (without ID) of cursor c.
func place(c string) entry {
	score, member, _ := strings.Cut(c, " ")
	return entry{score: score, member: member}
}

// compareEntries orders two entries of the list p as compareCursors does
// their cursors.
func compareEntries(p *storage.ListParams, a, b entry) int {
	as, am, bs, bm := a.score, a.member, b.score, b.member
	c := -cmp.Compare(am, bm)
	if p.State == states.NameEnqueued || p.State == states.NameScheduled {
		x, _ := strconv.ParseFloat(as, 64)
		y, _ := strconv.ParseFloat(bs, 64)
		c = cmp.Or(cmp.Compare(x, y), cmp.Compare(am, bm))
	}
	if p.Backward {
		return -c
	}
	return c
}

// ListQueues implements [storage.Queues]: it merges the queues of every
// shard.
func (s *Sharded) ListQueues(ctx context.Context) ([]storage.QueueInfo, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	lists := make([][]storage.QueueInfo, len(s.shards))
	err := eachShard(all(len(s.shards)), func(i int) error {
		var err error
		lists[i], err = s.shards[i].ListQueues(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	byName := map[string]*storage.QueueInfo{}
	var out []storage.QueueInfo
	for _, l := range lists {
		for _, qi := range l {
			m := byName[qi.Name]
			if m == nil {
				c := qi
				byName[qi.Name] = &c
				continue
			}
			m.Paused = m.Paused || qi.Paused
			m.Enqueued += qi.Enqueued
			if !qi.OldestEnqueued.IsZero() && (m.OldestEnqueued.IsZero() || qi.OldestEnqueued.Before(m.OldestEnqueued)) {
				m.OldestEnqueued = qi.OldestEnqueued
			}
		}
	}
	for _, m := range byName {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b storage.QueueInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Stats implements [storage.Statistics]: it sums the statistics of every
// shard.
func (s *Sharded) Stats(ctx context.Context, from, to time.Time, step time.Duration) ([]storage.StatsPoint, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	lists := make([][]storage.StatsPoint, len(s.shards))
	err := eachShard(all(len(s.shards)), func(i int) error {
		var err error
		lists[i], err = s.shards[i].Stats(ctx, from, to, step)
		return err
	})
	if err != nil {
		return nil, err
	}
	counted := map[time.Time]storage.StatsPoint{}
	for _, l := range lists {
		for _, pt := range l {
			c := counted[pt.At]
			c.Succeeded += pt.Succeeded
			c.Failed += pt.Failed
			c.Deleted += pt.Deleted
			counted[pt.At] = c
		}
	}
	return storage.FillStats(from, to, step, counted), nil
}

// byShard groups the indexes of ids by the shard that holds each job;
// jobs no shard holds are left out.
func (s *Sharded) byShard(ctx context.Context, ids []uuid.UUID) (map[int][]int, error) {
	at, err := s.locate(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := map[int][]int{}
	for k, i := range at {
		if i >= 0 {
			out[i] = append(out[i], k)
		}
	}
	return out, nil
}

// keysOf returns the keys of m, in order.
func keysOf(m map[int][]int) []int {
	out := make([]int, 0, len(m))
	for i := range m {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// logs stores logs (or progress) of jobs on their shards.
func (s *Sharded) logs(ctx context.Context, records []storage.LogRecord, progress []storage.Progress) error {
	ids := make([]uuid.UUID, 0, len(records)+len(progress))
	for _, r := range records {
		ids = append(ids, r.JobID)
	}
	for _, p := range progress {
		ids = append(ids, p.JobID)
	}
	groups, err := s.byShard(ctx, ids)
	if err != nil {
		return err
	}
	return eachShard(keysOf(groups), func(i int) error {
		if records != nil {
			var mine []storage.LogRecord
			for _, k := range groups[i] {
				mine = append(mine, records[k])
			}
			return s.shards[i].AppendLogs(ctx, mine)
		}
		var mine []storage.Progress
		for _, k := range groups[i] {
			mine = append(mine, progress[k])
		}
		return s.shards[i].SetProgress(ctx, mine)
	})
}

// onShards calls f on every shard at once.
func (s *Sharded) onShards(f func(sh *Store) error) error {
	return eachShard(all(len(s.shards)), func(i int) error { return f(s.shards[i]) })
}

// ReclaimExpired implements [storage.Store], on every shard in turn up to
// the limit in all.
func (s *Sharded) ReclaimExpired(ctx context.Context, p *storage.ReclaimParams) (int, error) {
	if err := s.home.begin(ctx); err != nil {
		return 0, err
	}
	q := *p
	q.Now = s.home.clock(p.Now)
	return s.roundRobin(p.Limit, func(sh *Store, limit int) (int, error) {
		q.Limit = limit
		return sh.ReclaimExpired(ctx, &q)
	})
}

// DeleteExpired implements [storage.Pruner], on every shard in turn up to
// the limit in all.
func (s *Sharded) DeleteExpired(ctx context.Context, p *storage.PruneParams) (int, error) {
	if err := s.home.begin(ctx); err != nil {
		return 0, err
	}
	q := *p
	q.Now = s.home.clock(p.Now)
	return s.roundRobin(p.Limit, func(sh *Store, limit int) (int, error) {
		q.Limit = limit
		return sh.DeleteExpired(ctx, &q)
	})
}

// Count implements [storage.Lister]: it sums the counts of every shard.
func (s *Sharded) Count(ctx context.Context, queue string) (map[states.Name]int64, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	sum := map[states.Name]int64{}
	err := s.onShards(func(sh *Store) error {
		c, err := sh.Count(ctx, queue)
		mu.Lock()
		defer mu.Unlock()
		for st, n := range c {
			sum[st] += n
		}
		return err
	})
	return sum, err
}

// SetQueuePaused implements [storage.Queues], on every shard.
func (s *Sharded) SetQueuePaused(ctx context.Context, queue string, paused bool) error {
	if err := s.home.begin(ctx); err != nil {
		return err
	}
	return s.onShards(func(sh *Store) error { return sh.SetQueuePaused(ctx, queue, paused) })
}

// AppendLogs implements [storage.JobLogs].
func (s *Sharded) AppendLogs(ctx context.Context, records []storage.LogRecord) error {
	if err := s.home.begin(ctx); err != nil {
		return err
	}
	return s.logs(ctx, records, nil)
}

// SetProgress implements [storage.JobLogs].
func (s *Sharded) SetProgress(ctx context.Context, progress []storage.Progress) error {
	if err := s.home.begin(ctx); err != nil {
		return err
	}
	return s.logs(ctx, nil, progress)
}

// JobLogs implements [storage.JobLogs]: it reads them on the job's shard.
func (s *Sharded) JobLogs(ctx context.Context, id uuid.UUID) ([]storage.LogRecord, *storage.Progress, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, nil, err
	}
	at, err := s.locate(ctx, []uuid.UUID{id})
	if err != nil {
		return nil, nil, err
	}
	if at[0] < 0 {
		return nil, nil, fmt.Errorf("redisstore: job %s: %w", id, storage.ErrNotFound)
	}
	return s.shards[at[0]].JobLogs(ctx, id)
}

// RemoveWorker implements [storage.Workers], on every shard.
func (s *Sharded) RemoveWorker(ctx context.Context, id string) error {
	if err := s.home.begin(ctx); err != nil {
		return err
	}
	return s.onShards(func(sh *Store) error { return sh.RemoveWorker(ctx, id) })
}

// RemoveDeadWorkers implements [storage.Workers]: every shard returns the
// jobs of the workers it finds dead.
func (s *Sharded) RemoveDeadWorkers(ctx context.Context, timeout time.Duration) ([]string, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex
		dead []string
	)
	err := someShards(all(len(s.shards)), func(i int) error {
		d, err := s.shards[i].RemoveDeadWorkers(ctx, timeout)
		mu.Lock()
		dead = append(dead, d...)
		mu.Unlock()
		return err
	})
	slices.Sort(dead)
	return slices.Compact(dead), err
}

// Subscribe implements [storage.Notifier]: it listens to the wake-ups of
// every shard, on Redis Cluster each on the master that publishes them
// (the others' reach a node only through the cluster bus, later).
func (s *Sharded) Subscribe(ctx context.Context, topics storage.Topic) (<-chan struct{}, error) {
	if err := s.home.begin(ctx); err != nil {
		return nil, err
	}
	channels := make([]string, len(s.shards))
	for i, sh := range s.shards {
		channels[i] = sh.k.wake()
	}
	groups := [][]string{channels}
	if _, ok := s.home.rdb.(*redis.ClusterClient); ok {
		groups = nil
		for _, ch := range channels {
			groups = append(groups, []string{ch})
		}
	}
	// Shard 0's connections serve the whole store: shard 0 never
	// subscribes on its own.
	return s.home.wakes.subscribe(ctx, s.home.rdb, groups, topics)
}

// The methods below serve what lives on shard 0 alone: batches, recurring
// definitions, locks, the worker list and limits.

// EnforcesUniqueKeys implements [storage.UniqueKeys].
func (s *Sharded) EnforcesUniqueKeys() {}

// ResolvesContinuations implements [storage.Continuations].
func (s *Sharded) ResolvesContinuations() {}

// BatchProgress implements [storage.Batches]: batches live on shard 0.
func (s *Sharded) BatchProgress(ctx context.Context, id uuid.UUID) (map[states.Name]int64, error) {
	return s.home.BatchProgress(ctx, id)
}

// ListBatches implements [storage.BatchLister]: batches live on shard 0.
func (s *Sharded) ListBatches(ctx context.Context, p *storage.BatchListParams) ([]uuid.UUID, error) {
	return s.home.ListBatches(ctx, p)
}

// UpsertRecurring implements [storage.Recurring], on shard 0.
func (s *Sharded) UpsertRecurring(ctx context.Context, r *storage.RecurringJob) error {
	return s.home.UpsertRecurring(ctx, r)
}

// RemoveRecurring implements [storage.Recurring], on shard 0.
func (s *Sharded) RemoveRecurring(ctx context.Context, id string) error {
	return s.home.RemoveRecurring(ctx, id)
}

// GetRecurring implements [storage.Recurring], on shard 0.
func (s *Sharded) GetRecurring(ctx context.Context, id string) (*storage.RecurringJob, error) {
	return s.home.GetRecurring(ctx, id)
}

// ListRecurring implements [storage.Recurring], on shard 0.
func (s *Sharded) ListRecurring(ctx context.Context) ([]*storage.RecurringJob, error) {
	return s.home.ListRecurring(ctx)
}

// DueRecurring implements [storage.Recurring], on shard 0.
func (s *Sharded) DueRecurring(ctx context.Context, now time.Time, limit int) ([]*storage.RecurringJob, time.Time, error) {
	return s.home.DueRecurring(ctx, now, limit)
}

// FireRecurring implements [storage.Recurring]: the job a definition
// fires is created on shard 0, with the definition.
func (s *Sharded) FireRecurring(ctx context.Context, p *storage.FireParams) error {
	return s.home.FireRecurring(ctx, p)
}

// SetRecurringPaused implements [storage.Recurring], on shard 0.
func (s *Sharded) SetRecurringPaused(ctx context.Context, id string, paused bool, nextRun time.Time) error {
	return s.home.SetRecurringPaused(ctx, id, paused, nextRun)
}

// TryLock implements [storage.Locker], on shard 0.
func (s *Sharded) TryLock(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	return s.home.TryLock(ctx, key, owner, ttl)
}

// Unlock implements [storage.Locker], on shard 0.
func (s *Sharded) Unlock(ctx context.Context, key, owner string) error {
	return s.home.Unlock(ctx, key, owner)
}

// ListWorkers implements [storage.Workers]: the worker list lives on
// shard 0.
func (s *Sharded) ListWorkers(ctx context.Context) ([]*storage.WorkerInfo, error) {
	return s.home.ListWorkers(ctx)
}

// SetLimits implements [storage.FlowControl]: limits live on shard 0.
func (s *Sharded) SetLimits(ctx context.Context, limits []storage.Limit) error {
	return s.home.SetLimits(ctx, limits)
}

// Limits implements [storage.FlowControl]: limits live on shard 0.
func (s *Sharded) Limits(ctx context.Context) ([]storage.Limit, error) {
	return s.home.Limits(ctx)
}

// LimitUsage implements [storage.FlowControl]: limits, and the jobs they
// count, live on shard 0.
func (s *Sharded) LimitUsage(ctx context.Context) ([]storage.LimitUsage, error) {
	return s.home.LimitUsage(ctx)
}
