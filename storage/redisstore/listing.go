package redisstore

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// The monitoring queries (List, Count, ListQueues) read sets that grow with
// the store: the queues, a queue's jobs, the leases, a batch's members.
// They read them a page at a time, each page one command (or one script
// over a page of names), so that no call holds Redis for long however
// large the store; a set that changes meanwhile may be seen partly before
// and partly after the change, as a listing that pages through it would.

// page is the most members, names or jobs one call of a monitoring query
// reads.
const page = 500

// eachMember calls f with the members of set key, a page at a time
// (SSCAN: a member may come twice).
func (s *Store) eachMember(ctx context.Context, key string, f func([]string) error) error {
	var cursor uint64
	for {
		got, next, err := s.rdb.SScan(ctx, key, cursor, "", page).Result()
		if err != nil {
			return err
		}
		if len(got) > 0 {
			if err := f(got); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// eachRanked calls f with the members of sorted set key, highest rank
// first when rev is set, a page at a time, up to n of them (all for n <
// 0).
func (s *Store) eachRanked(ctx context.Context, key string, rev bool, n int, f func([]string) error) error {
	for start := 0; n < 0 || start < n; start += page {
		stop := start + page - 1
		if n >= 0 {
			stop = min(stop, n-1)
		}
		rng := s.rdb.ZRange
		if rev {
			rng = s.rdb.ZRevRange
		}
		got, err := rng(ctx, key, int64(start), int64(stop)).Result()
		if err != nil {
			return err
		}
		if len(got) > 0 {
			if err := f(got); err != nil {
				return err
			}
		}
		if len(got) < stop-start+1 {
			return nil
		}
	}
	return nil
}

// queueNames returns the queues of the store's set of queues, and the
// paused ones when paused is set.
func (s *Store) queueNames(ctx context.Context, paused bool) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	add := func(got []string) error {
		for _, q := range got {
			if !seen[q] {
				seen[q] = true
				names = append(names, q)
			}
		}
		return nil
	}
	if err := s.eachMember(ctx, s.k.prefix+"queues", add); err != nil {
		return nil, err
	}
	if paused {
		if err := s.eachMember(ctx, s.k.paused(), add); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// inPages calls f with names, a page at a time.
func inPages(names []string, f func([]string) error) error {
	for chunk := range slices.Chunk(names, page) {
		if err := f(chunk); err != nil {
			return err
		}
	}
	return nil
}

// scriptArgs returns the arguments of a monitoring script: the key
// prefix, then names.
func (s *Store) scriptArgs(names []string) []any {
	args := make([]any, 0, 1+len(names))
	args = append(args, s.k.prefix)
	for _, n := range names {
		args = append(args, n)
	}
	return args
}

// countLeased counts the Processing jobs of queue.
func (s *Store) countLeased(ctx context.Context, queue string) (int64, error) {
	var n int64
	err := s.eachRanked(ctx, s.k.prefix+"lease", false, -1, func(ids []string) error {
		queues, err := s.fieldOf(ctx, ids, "q")
		for _, q := range queues {
			if q == queue {
				n++
			}
		}
		return err
	})
	return n, err
}

// fieldOf returns field name of the jobs ids ("" for a job that is gone),
// in one pipeline.
func (s *Store) fieldOf(ctx context.Context, ids []string, name string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGet(ctx, s.k.prefix+"j:"+id, name)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// listed gathers the IDs of the jobs a List call may return.
type listed struct {
	ids   map[string]bool
	check bool // the IDs need checking against the call's parameters
}

func (l *listed) add(ids []string) error {
	for _, id := range ids {
		l.ids[id] = true
	}
	return nil
}

// list implements List on one shard: it gathers the candidates from the
// indexes p selects, newest first, checks them against p where an index
// alone does not tell, and reads the page of jobs asked for.
func (s *Store) list(ctx context.Context, p *storage.ListParams) ([]*storage.Job, error) {
	want := -1 // how many of the newest candidates the page needs, all if < 0
	if p.Limit > 0 {
		want = max(p.Offset, 0) + p.Limit
	}
	filtered := p.Task != "" || p.ParentID != uuid.Nil
	l := &listed{ids: map[string]bool{}, check: filtered}
	// Per-state indexes are sorted by ID: the newest want of each do,
	// unless a filter may drop some.
	indexed := want
	if filtered {
		indexed = -1
	}
	var queues []string
	if p.Queue != "" {
		queues = []string{p.Queue}
	} else if p.BatchID == uuid.Nil {
		var err error
		if queues, err = s.queueNames(ctx, false); err != nil {
			return nil, err
		}
	}
	ofState := func(st states.Name) error {
		switch st {
		case states.NameProcessing:
			l.check = l.check || p.Queue != ""
			return s.eachRanked(ctx, s.k.prefix+"lease", false, -1, l.add)
		case states.NameEnqueued:
			for _, q := range queues {
				err := s.eachRanked(ctx, s.k.prefix+"q:"+q, false, -1, func(members []string) error {
					for i, m := range members {
						members[i] = m[max(len(m)-36, 0):] // the member is the enqueue sequence, then the ID
					}
					return l.add(members)
				})
				if err != nil {
					return err
				}
			}
			return nil
		}
		for _, q := range queues {
			if err := s.eachRanked(ctx, s.k.prefix+"s:"+string(st)+":"+q, true, indexed, l.add); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch {
	case p.BatchID != uuid.Nil:
		l.check = true
		err = s.eachMember(ctx, s.k.batchMembers(p.BatchID), l.add)
	case p.State != "":
		err = ofState(p.State)
	default:
		for _, st := range []states.Name{states.NameEnqueued, states.NameScheduled, states.NameAwaiting, states.NameProcessing,
			states.NameSucceeded, states.NameFailed, states.NameDeleted} {
			if err = ofState(st); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, wrap("list", err)
	}
	ids := make([]string, 0, len(l.ids))
	for id := range l.ids {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(b, a) })
	if l.check {
		if ids, err = s.matching(ctx, p, ids, want); err != nil {
			return nil, wrap("list", err)
		}
	}
	if want >= 0 && len(ids) > want {
		ids = ids[:want]
	}
	ids = ids[min(max(p.Offset, 0), len(ids)):]
	out := make([]*storage.Job, 0, len(ids))
	err = inPages(ids, func(ids []string) error {
		cmds := make([]*redis.MapStringStringCmd, len(ids))
		_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = pl.HGetAll(ctx, s.k.prefix+"j:"+id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, c := range cmds {
			id, err := uuid.Parse(ids[i])
			if err != nil || len(c.Val()) == 0 { // gone meanwhile
				continue
			}
			j, err := jobOfHash(id, c.Val(), false)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("list", err)
	}
	return out, nil
}

// matching returns the first want (all if < 0) of ids, in order, whose
// jobs p selects, reading the fields it needs a page at a time.
func (s *Store) matching(ctx context.Context, p *storage.ListParams, ids []string, want int) ([]string, error) {
	var kept []string
	for chunk := range slices.Chunk(ids, page) {
		cmds := make([]*redis.SliceCmd, len(chunk))
		_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, id := range chunk {
				cmds[i] = pl.HMGet(ctx, s.k.prefix+"j:"+id, "s", "q", "t", "b", "pa")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i, c := range cmds {
			f := c.Val()
			str := func(k int) string { v, _ := f[k].(string); return v }
			if f[0] == nil || p.State != "" && str(0) != string(p.State) || p.Queue != "" && str(1) != p.Queue ||
				p.Task != "" && str(2) != p.Task || p.BatchID != uuid.Nil && str(3) != p.BatchID.String() ||
				p.ParentID != uuid.Nil && str(4) != p.ParentID.String() {
				continue
			}
			kept = append(kept, chunk[i])
			if len(kept) == want {
				return kept, nil
			}
		}
	}
	return kept, nil
}
