package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
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

// eachRanked calls f with the members of sorted set key, a page at a
// time, in rank order. The pages go a pipeline of several at a time: each
// command reads a page, and a large set takes few round trips.
func (s *Store) eachRanked(ctx context.Context, key string, f func([]string) error) error {
	for start := 0; ; start += pipelined * page {
		cmds := make([]*redis.StringSliceCmd, pipelined)
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range cmds {
				from := int64(start + i*page)
				cmds[i] = p.ZRange(ctx, key, from, from+page-1)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if got := c.Val(); len(got) > 0 {
				if err := f(got); err != nil {
					return err
				}
			}
			if len(c.Val()) < page {
				return nil
			}
		}
	}
}

// pipelined is the most pages of a set that one round trip reads.
const pipelined = 16

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
func inPages[T any](names []T, f func([]T) error) error {
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
	err := s.eachRanked(ctx, s.k.prefix+"lease", func(ids []string) error {
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
// in one script call (lua/fields.lua): a page of HGETs costs Redis and
// the client a fraction of as many pipelined commands.
func (s *Store) fieldOf(ctx context.Context, ids []string, name string) ([]string, error) {
	args := make([]any, 0, 2+len(ids))
	args = append(args, s.k.prefix, name)
	for _, id := range ids {
		args = append(args, id)
	}
	return fieldsScript.Run(ctx, s.rdb, []string{s.k.seq()}, args...).StringSlice()
}

// entry is a job's place in a list: the score and member of the index it
// was read from, and its ID. Its cursor is "score member" (see
// compareCursors): for Enqueued jobs the ready set's (minus the priority,
// the enqueue sequence and the ID), for Scheduled ones the sched set's
// (the run time, the ID), for the others "0" and the ID.
type entry struct{ score, member, id string }

func (e entry) cursor() string { return e.score + " " + e.member }

// byID returns the entry of a job listed by ID.
func byID(id string) entry { return entry{"0", id, id} }

// stream walks one index of a list in the list's order: read returns the
// entries after cursor ("" for the start), at most n of them, and whether
// there may be more.
type stream struct {
	read  func(ctx context.Context, cursor string, n int) ([]entry, bool, error)
	buf   []entry
	after string
	done  bool
	n     int  // how many entries the next read asks for
	grow  bool // each read asks for twice as many as the one before, up to pipelined pages
}

// peek returns the stream's next entry, nil at its end, reading more when
// it has none at hand.
func (st *stream) peek(ctx context.Context) (*entry, error) {
	if len(st.buf) == 0 && !st.done {
		got, more, err := st.read(ctx, st.after, st.n)
		if err != nil {
			return nil, err
		}
		st.buf, st.done = got, !more || len(got) == 0
		if len(got) > 0 {
			st.after = got[len(got)-1].cursor()
		}
		if st.grow {
			st.n = min(2*st.n, pipelined*page)
		}
	}
	if len(st.buf) == 0 {
		return nil, nil
	}
	return &st.buf[0], nil
}

// ranked returns a stream of the sorted set key ordered by score, then
// member (a ready set, or sched), read a page at a time by lua/page.lua;
// idOf turns a member into its job's ID.
func (s *Store) ranked(key string, backward bool, idOf func(string) string) *stream {
	return &stream{read: func(ctx context.Context, cursor string, n int) ([]entry, bool, error) {
		n = min(n, page)
		score, member, _ := strings.Cut(cursor, " ")
		res, err := pageScript.Run(ctx, s.rdb, []string{key}, score, member, flag(backward), n).StringSlice()
		if err != nil {
			return nil, false, err
		}
		out := make([]entry, 0, len(res)/2)
		for i := 0; i+1 < len(res); i += 2 {
			out = append(out, entry{res[i+1], res[i], idOf(res[i])})
		}
		return out, len(out) == n, nil
	}}
}

// readyID returns the job ID of a ready set's member: the enqueue
// sequence, then the ID.
func readyID(m string) string { return m[max(len(m)-36, 0):] }

// lexical returns a stream of the sorted set of IDs key (all scored 0),
// newest first unless backward, read a page per command (several pages
// of a read in one pipeline).
func (s *Store) lexical(key string, backward bool) *stream {
	return &stream{read: func(ctx context.Context, cursor string, n int) ([]entry, bool, error) {
		_, after, _ := strings.Cut(cursor, " ")
		cmds := make([]*redis.StringSliceCmd, 0, (n+page-1)/page)
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for off := 0; off < n; off += page {
				by := &redis.ZRangeBy{Min: "-", Max: "+", Offset: int64(off), Count: int64(min(page, n-off))}
				if backward {
					if after != "" {
						by.Min = "(" + after
					}
					cmds = append(cmds, p.ZRangeByLex(ctx, key, by))
				} else {
					if after != "" {
						by.Max = "(" + after
					}
					cmds = append(cmds, p.ZRevRangeByLex(ctx, key, by))
				}
			}
			return nil
		})
		out := make([]entry, 0, n)
		for _, c := range cmds {
			for _, id := range c.Val() {
				out = append(out, byID(id))
			}
		}
		return out, len(out) == n, err
	}}
}

// gathered returns a stream of the entries that gather finds, in no
// order: it gathers them all on its first read, a page per command, and
// sorts those after the cursor in p's order. For the sets whose order is
// not the list's: the lease set, a batch's members, a parent's
// continuations in a list of Enqueued or Scheduled jobs.
func gathered(p *storage.ListParams, gather func(ctx context.Context, add func([]entry)) error) *stream {
	return &stream{read: func(ctx context.Context, cursor string, _ int) ([]entry, bool, error) {
		seen := map[string]bool{}
		var out []entry
		after := place(cursor)
		err := gather(ctx, func(es []entry) {
			for _, e := range es {
				if !seen[e.id] && (cursor == "" || compareEntries(p, after, e) < 0) {
					seen[e.id] = true
					out = append(out, e)
				}
			}
		})
		slices.SortFunc(out, func(a, b entry) int { return compareEntries(p, a, b) })
		return out, false, err
	}}
}

// list implements List on one shard. It walks the indexes that p selects
// from p.Cursor, merging them in the list's order, and checks the jobs
// against p where the indexes alone do not tell (in chunks of twice the
// page, growing while the filter keeps too few, each check of a job one
// command),
// until it has the page asked for. An index in the list's order is read
// a page per command from the cursor's place, so that a page costs about
// the same at any depth; the others (the lease set, a batch's members)
// are read whole, a page per command.
func (s *Store) list(ctx context.Context, p *storage.ListParams) ([]*storage.Job, error) {
	want := -1 // how many jobs from the cursor the page needs, all if < 0
	if p.Limit > 0 {
		want = max(p.Offset, 0) + p.Limit
	}
	streams, check, err := s.listStreams(ctx, p)
	if err != nil {
		return nil, wrap("list", err)
	}
	chunk := page // how many entries to read from each index, and to check, at a time
	if want > 0 {
		chunk = min(chunk, want) // enough, unless the filter drops some: then twice as many each time
		if check {
			chunk = min(page, 2*want)
		}
	}
	for _, st := range streams {
		st.after, st.n, st.grow = p.Cursor, chunk, check
	}
	var kept, candidates []entry
	seen := map[string]bool{}
	flush := func() error {
		if !check {
			kept = append(kept, candidates...)
		} else if err := s.matching(ctx, p, candidates, &kept); err != nil {
			return err
		}
		candidates = candidates[:0]
		if check {
			chunk = min(2*chunk, pipelined*page)
		}
		return nil
	}
	for want < 0 || len(kept) < want {
		var next *stream
		var at *entry
		for _, st := range streams {
			e, err := st.peek(ctx)
			if err != nil {
				return nil, wrap("list", err)
			}
			if e != nil && (at == nil || compareEntries(p, *e, *at) < 0) {
				next, at = st, e
			}
		}
		if next == nil {
			break
		}
		next.buf = next.buf[1:]
		if seen[at.id] { // moved from one index to another meanwhile
			continue
		}
		seen[at.id] = true
		candidates = append(candidates, *at)
		if len(candidates) == chunk || !check && want >= 0 && len(kept)+len(candidates) == want {
			if err := flush(); err != nil {
				return nil, wrap("list", err)
			}
		}
	}
	if err := flush(); err != nil {
		return nil, wrap("list", err)
	}
	if want >= 0 && len(kept) > want {
		kept = kept[:want]
	}
	kept = kept[min(max(p.Offset, 0), len(kept)):]
	out := make([]*storage.Job, 0, len(kept))
	err = inPages(kept, func(es []entry) error {
		cmds := make([]*redis.MapStringStringCmd, len(es))
		_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i, e := range es {
				cmds[i] = pl.HGetAll(ctx, s.k.prefix+"j:"+e.id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, c := range cmds {
			id, err := uuid.Parse(es[i].id)
			if err != nil || len(c.Val()) == 0 { // gone meanwhile
				continue
			}
			j, err := jobOfHash(id, c.Val(), false)
			if err != nil {
				return err
			}
			j.Cursor = es[i].cursor()
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("list", err)
	}
	return out, nil
}

// indexedStates are the states whose jobs a per-state index lists by ID
// (s:<state>:<queue>).
var indexedStates = []states.Name{states.NameScheduled, states.NameAwaiting, states.NameSucceeded, states.NameFailed,
	states.NameDeleted}

// listStreams returns the streams of the indexes that p selects, and
// whether their jobs need checking against p.
func (s *Store) listStreams(ctx context.Context, p *storage.ListParams) ([]*stream, bool, error) {
	filtered := p.Task != "" || p.ParentID != uuid.Nil
	// members returns a stream of the jobs of set key, read whole by each.
	members := func(each func(context.Context, string, func([]string) error) error, key string) *stream {
		return gathered(p, func(ctx context.Context, add func([]entry)) error {
			return each(ctx, key, func(ids []string) error {
				es, err := s.placesOf(ctx, p.State, ids)
				add(es)
				return err
			})
		})
	}
	if p.BatchID != uuid.Nil {
		return []*stream{members(s.eachMember, s.k.batchMembers(p.BatchID))}, true, nil
	}
	if p.ParentID != uuid.Nil || p.State == "" {
		if err := s.indexed(ctx); err != nil {
			return nil, false, err
		}
	}
	if p.ParentID != uuid.Nil {
		key := s.k.prefix + "c:" + p.ParentID.String()
		if p.State == states.NameEnqueued || p.State == states.NameScheduled { // listed in their index's order
			return []*stream{members(s.eachRanked, key)}, true, nil
		}
		return []*stream{s.lexical(key, p.Backward)}, p.State != "" || p.Queue != "" || p.Task != "", nil
	}
	queues := []string{p.Queue}
	if p.Queue == "" {
		var err error
		if queues, err = s.queueNames(ctx, false); err != nil {
			return nil, false, err
		}
	}
	if p.State == "" {
		if p.Queue == "" { // a queue whose jobs are all Processing may have left the set of queues
			var err error
			if queues, err = s.leasedQueues(ctx, queues); err != nil {
				return nil, false, err
			}
		}
		out := make([]*stream, 0, len(queues)*(1+len(indexedStates)))
		for _, q := range queues {
			out = append(out, s.lexical(s.k.prefix+"s:active:"+q, p.Backward))
			for _, st := range indexedStates {
				out = append(out, s.lexical(s.k.prefix+"s:"+string(st)+":"+q, p.Backward))
			}
		}
		return out, filtered, nil
	}
	leased := gathered(p, func(ctx context.Context, add func([]entry)) error {
		return s.eachRanked(ctx, s.k.prefix+"lease", func(ids []string) error {
			es := make([]entry, len(ids))
			for i, id := range ids {
				es[i] = byID(id)
			}
			add(es)
			return nil
		})
	})
	var out []*stream
	switch p.State {
	case states.NameEnqueued:
		for _, q := range queues {
			out = append(out, s.ranked(s.k.prefix+"q:"+q, p.Backward, readyID))
		}
		return out, filtered, nil
	case states.NameScheduled:
		return []*stream{s.ranked(s.k.prefix+"sched", p.Backward, func(id string) string { return id })}, filtered || p.Queue != "", nil
	case states.NameProcessing:
		return []*stream{leased}, filtered || p.Queue != "", nil
	}
	for _, q := range queues {
		out = append(out, s.lexical(s.k.prefix+"s:"+string(p.State)+":"+q, p.Backward))
	}
	return out, filtered, nil
}

// placesOf returns the entries of the jobs ids in a list of state st (see
// entry), in one pipeline.
func (s *Store) placesOf(ctx context.Context, st states.Name, ids []string) ([]entry, error) {
	es := make([]entry, len(ids))
	for i, id := range ids {
		es[i] = byID(id)
	}
	if st != states.NameEnqueued && st != states.NameScheduled {
		return es, nil
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	scores := make([]*redis.FloatCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, id := range ids {
			if st == states.NameScheduled {
				scores[i] = pl.ZScore(ctx, s.k.prefix+"sched", id)
			} else {
				cmds[i] = pl.HMGet(ctx, s.k.prefix+"j:"+id, "p", "qs")
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i := range es {
		if st == states.NameScheduled {
			es[i].score = strconv.FormatFloat(scores[i].Val(), 'f', -1, 64)
			continue
		}
		f := cmds[i].Val()
		prio, _ := f[0].(string)
		qs, _ := f[1].(string)
		if qs != "" {
			n, _ := strconv.Atoi(prio)
			es[i].score, es[i].member = strconv.Itoa(-n), qs+ids[i]
		}
	}
	return es, nil
}

// matching appends to kept the entries of es, in order, whose jobs p
// selects, reading the fields it needs in one pipeline.
func (s *Store) matching(ctx context.Context, p *storage.ListParams, es []entry, kept *[]entry) error {
	if len(es) == 0 {
		return nil
	}
	cmds := make([]*redis.SliceCmd, len(es))
	_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, e := range es {
			cmds[i] = pl.HMGet(ctx, s.k.prefix+"j:"+e.id, "s", "q", "t", "b", "pa")
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, c := range cmds {
		f := c.Val()
		str := func(k int) string { v, _ := f[k].(string); return v }
		if f[0] == nil || p.State != "" && str(0) != string(p.State) || p.Queue != "" && str(1) != p.Queue ||
			p.Task != "" && str(2) != p.Task || p.BatchID != uuid.Nil && str(3) != p.BatchID.String() ||
			p.ParentID != uuid.Nil && str(4) != p.ParentID.String() {
			continue
		}
		*kept = append(*kept, es[i])
	}
	return nil
}
