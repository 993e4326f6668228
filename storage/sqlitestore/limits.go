package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"math"
	"slices"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// counter is what a limit counts: its scope, and for ScopePartition one
// partition of the task.
type counter struct {
	scope     storage.LimitScope
	name      string
	partition string
}

// flow is the flow-control state one fetch works with, read in the
// writer's transaction: the stored limits, the Processing jobs each
// counter counts and the GCRA time of each. The writer is the only one to
// change jobs, so what it reads holds until it commits.
type flow struct {
	limits  map[counter]storage.Limit // by scope and name, partition empty
	running map[counter]int64
	tat     map[counter]time.Time
	changed map[counter]bool // GCRA times to store
}

// loadFlow reads the stored limits and their use; nil when there are no
// limits.
func (w *wtx) loadFlow() (*flow, error) {
	limits, err := queryLimits(w.query)
	if err != nil || len(limits) == 0 {
		return nil, err
	}
	f := &flow{limits: map[counter]storage.Limit{}, running: map[counter]int64{}, tat: map[counter]time.Time{}, changed: map[counter]bool{}}
	for _, l := range limits {
		f.limits[counter{scope: l.Scope, name: l.Name}] = l
	}
	rows, err := w.query(`SELECT queue, task, coalesce(partition_key, ''), count(*) FROM jobs WHERE state = 'processing' GROUP BY 1, 2, 3`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c candidate
			n int64
		)
		if err := rows.Scan(&c.queue, &c.task, &c.key, &n); err != nil {
			return nil, err
		}
		f.applying(&c, func(l storage.Limit, k counter) bool {
			f.running[k] += n
			return true
		})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rates, err := w.query(`SELECT scope, name, partition_key, tat FROM limit_rates`)
	if err != nil {
		return nil, err
	}
	defer rates.Close()
	for rates.Next() {
		var (
			k  counter
			us int64
		)
		if err := rates.Scan(&k.scope, &k.name, &k.partition, &us); err != nil {
			return nil, err
		}
		f.tat[k] = time.UnixMicro(us).UTC()
	}
	return f, rates.Err()
}

// candidate is an Enqueued job a limited fetch considers.
type candidate struct {
	id               []byte
	queue, task, key string
}

// applying calls fn with each limit that applies to c and the counter c
// counts under, until fn returns false.
func (f *flow) applying(c *candidate, fn func(l storage.Limit, k counter) bool) bool {
	for _, k := range [3]counter{{storage.ScopeQueue, c.queue, ""}, {storage.ScopeTask, c.task, ""}, {storage.ScopePartition, c.task, ""}} {
		l, ok := f.limits[k]
		if !ok {
			continue
		}
		if k.scope == storage.ScopePartition {
			k.partition = c.key
		}
		if !fn(l, k) {
			return false
		}
	}
	return true
}

// start reports whether c may start at now under every limit; if so, it
// counts the start.
func (f *flow) start(c *candidate, now time.Time) bool {
	ok := f.applying(c, func(l storage.Limit, k counter) bool {
		if l.Concurrency > 0 && f.running[k] >= int64(l.Concurrency) {
			return false
		}
		ok, _ := storage.GCRA(l, f.tat[k], now)
		return ok
	})
	if !ok {
		return false
	}
	f.applying(c, func(l storage.Limit, k counter) bool {
		f.running[k]++
		if l.Rate > 0 {
			_, f.tat[k] = storage.GCRA(l, f.tat[k], now)
			f.changed[k] = true
		}
		return true
	})
	return true
}

// mayBind reports whether a limit of f could hold back one of n jobs
// without a partition key fetched from queue: a rate of the queue or of
// any task, or a concurrency of either with less room than n (a task's
// jobs without a key count as one partition of it under a partition
// limit). When none can, the fetch is the plain one.
func (f *flow) mayBind(queue string, n int) bool {
	for k, l := range f.limits {
		if k.scope == storage.ScopeQueue && k.name != queue {
			continue
		}
		if l.Rate > 0 || l.Concurrency > 0 && int64(l.Concurrency)-f.running[k] < int64(n) {
			return true
		}
	}
	return false
}

// started counts c as running in the counters of the limits that apply
// to it.
func (f *flow) started(c *candidate) {
	f.applying(c, func(_ storage.Limit, k counter) bool {
		f.running[k]++
		return true
	})
}

// saveRates stores the GCRA times the fetch moved.
func (w *wtx) saveRates(f *flow) error {
	for k := range f.changed {
		if _, err := w.exec(`INSERT INTO limit_rates (scope, name, partition_key, tat) VALUES (?, ?, ?, ?)
			ON CONFLICT (scope, name, partition_key) DO UPDATE SET tat = excluded.tat`,
			string(k.scope), k.name, k.partition, f.tat[k].UnixMicro()); err != nil {
			return err
		}
	}
	clear(f.changed)
	return nil
}

// candidatesSQL lists the Enqueued jobs of queue ?1 with a priority from ?2
// to ?3 by priority, then enqueue order: the fetch index, read without a
// sort, as far as the fetch needs.
const candidatesSQL = `SELECT id, task, coalesce(partition_key, ''), priority FROM jobs
WHERE state = 'enqueued' AND queue = ?1 AND priority BETWEEN ?2 AND ?3 ORDER BY priority DESC, seq`

// partitionedSQL tells whether queue has Enqueued jobs with a partition
// key, which a fetch serves round robin.
const partitionedSQL = `SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'enqueued' AND queue = ? AND partition_key IS NOT NULL)`

// partitionLevelSQL and plainLevelSQL are the highest priority from ?2 to
// ?3 of the Enqueued jobs of queue ?1 with a partition key, and without
// one. The first is a seek in jobs_partition_fetch; the second walks
// jobs_fetch past the partitioned jobs ahead of the first job without a
// key (see plainRecheck).
const (
	partitionLevelSQL = `SELECT max(priority) FROM jobs WHERE state = 'enqueued' AND partition_key IS NOT NULL
	AND queue = ?1 AND priority BETWEEN ?2 AND ?3`
	plainLevelSQL = `SELECT max(priority) FROM jobs WHERE state = 'enqueued' AND partition_key IS NULL
	AND queue = ?1 AND priority BETWEEN ?2 AND ?3`
)

// walkSQL walks the partitions of queue ?1 at priority ?2 that follow
// task ?3 and key ?4 in the bytewise order of jobs_partition_fetch,
// returning each one's first job in enqueue order: a loose scan, each
// step one seek (to the task's next key, else to the next task), whatever
// the jobs of the partitions skipped. SQLite computes the steps as the
// rows are read, so a fetch reads only as many as it uses. Every
// partition follows an empty task and key. (A row value comparison,
// (task, partition_key) > (?3, ?4), would read every job of task ?3 up
// to the key.)
const walkSQL = `WITH RECURSIVE walk(r, task, key) AS (
	SELECT NULL, ?3, ?4
	UNION ALL
	SELECT j.rowid, j.task, j.partition_key FROM walk w, jobs j WHERE j.rowid = coalesce(
		(SELECT rowid FROM jobs INDEXED BY jobs_partition_fetch WHERE state = 'enqueued' AND partition_key IS NOT NULL
			AND queue = ?1 AND priority = ?2 AND task = w.task AND partition_key > w.key ORDER BY partition_key, seq LIMIT 1),
		(SELECT rowid FROM jobs INDEXED BY jobs_partition_fetch WHERE state = 'enqueued' AND partition_key IS NOT NULL
			AND queue = ?1 AND priority = ?2 AND task > w.task ORDER BY task, partition_key, seq LIMIT 1))
)
SELECT task, key, (SELECT id FROM jobs WHERE rowid = r) FROM walk WHERE r IS NOT NULL`

// partitionJobsSQL is up to ?6 jobs of partition ?3, ?4 of queue ?1 at
// priority ?2 after its first ?5, in enqueue order.
const partitionJobsSQL = `SELECT id FROM jobs INDEXED BY jobs_partition_fetch
WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = ?1 AND priority = ?2 AND task = ?3 AND partition_key = ?4
ORDER BY seq LIMIT +?6 OFFSET ?5`

// plainJobsSQL lists the Enqueued jobs of queue ?1 at priority ?2 without
// a partition key, in enqueue order.
const plainJobsSQL = `SELECT id, task FROM jobs WHERE state = 'enqueued' AND partition_key IS NULL AND queue = ?1 AND priority = ?2
ORDER BY seq`

// leaseSQL leases job ?1 as fetchSQL does; ?2 to ?5 as fetchSQL's ?6 to ?9.
const leaseSQL = `UPDATE OR FAIL jobs SET ` + shiftSQL + `, state = 'processing', state_data = NULL, state_reason = '', updated_at = ?2,
	attempt = attempt + 1, lease_owner = ?3, lease_until = ?4, lease_token = ?5, expire_at = NULL
WHERE id = ?1 AND state = 'enqueued'
RETURNING ` + jobCols

// plainRecheck is how long at least walking fetches of a queue skip
// looking for jobs without a partition key once one found none there,
// unless this process creates one: the look reads every partitioned job
// ahead of the first without a key, so the pause is 20 times what the
// look took, up to plainRecheckMax (a look through 100,000 held-back
// jobs takes about 0.1 s). Such a job that another process creates, or
// that a retry or a requeue makes Enqueued, waits at most the pause.
const (
	plainRecheck    = time.Second
	plainRecheckMax = 10 * time.Second
)

// walkAfter is how many jobs of held-back groups a fetch that reads the
// queue in order may skip before the queue's fetches walk its partitions
// instead, until walkRecheck has passed without a walk finding a group
// held back.
const (
	walkAfter   = 256
	walkRecheck = time.Second
)

// fairState is what the writer keeps between fair fetches.
type fairState struct {
	walkAlways bool // every fair fetch walks (tests)
	// walkUntil is, per queue, until when its fair fetches walk.
	walkUntil map[string]time.Time
	// cursor is, per queue, the partition that the last fair fetch served
	// last in its first round; the next starts after it.
	cursor map[string]group
	// plainNone is, per queue, until when walking fetches do not look for
	// Enqueued jobs without a partition key there (see plainRecheck).
	plainNone map[string]time.Time
}

// group is a partition of a queue: the jobs of one task and partition key
// (empty for the jobs of the task without one).
type group struct{ task, key string }

// fairGroup is a group a fair fetch serves at one priority.
type fairGroup struct {
	g     group
	plain bool     // the jobs of g.task without a key, read once
	taken int      // jobs admitted
	next  [][]byte // its next jobs
}

// fetchFair leases up to limit jobs of queue with a priority from floor to
// ceiling, skipping those a limit of f (nil for none) holds back: by
// priority, then round robin between the groups (partitions, and the jobs
// of each task without a key), each group's jobs in enqueue order. It
// reads the queue in enqueue order (fetchScan), which costs one row per
// job leased while no limit holds much back; once a fetch has skipped more
// than walkAfter held-back jobs, the queue's fetches walk its partitions
// (fetchWalk) for walkRecheck, which costs a seek per partition but
// nothing per held-back job.
func (w *wtx) fetchFair(f *flow, queue string, floor, ceiling int64, limit int, now time.Time, owner string, until time.Time, token int64) ([]*storage.Job, error) {
	var (
		picked [][]byte
		err    error
	)
	if w.walkAlways || time.Now().Before(w.walkUntil[queue]) {
		picked, err = w.fetchWalk(f, queue, floor, ceiling, limit, now)
	} else {
		picked, err = w.fetchScan(f, queue, floor, ceiling, limit, now)
	}
	if err != nil {
		return nil, err
	}
	out := make([]*storage.Job, 0, len(picked))
	for _, id := range picked {
		j, err := scanJob(w.queryRow(leaseSQL, id, now.UnixMicro(), owner, until.UnixMicro(), token))
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if f != nil {
		return out, w.saveRates(f)
	}
	return out, nil
}

// fetchScan picks for fetchFair by reading the queue in enqueue order: it
// takes at once the first job of each group; the later jobs of a group
// wait in memory for their round, which comes once the priority's jobs
// are all read. A group held back once is held back for the rest of the
// fetch: its counts only grow.
func (w *wtx) fetchScan(f *flow, queue string, floor, ceiling int64, limit int, now time.Time) ([][]byte, error) {
	rows, err := w.query(candidatesSQL, queue, floor, ceiling)
	if err != nil {
		return nil, err
	}
	var (
		picked  [][]byte
		blocked = map[group]bool{}
		seen    = map[group]int{} // jobs of each group read at this priority
		later   [][]candidate     // later[r]: the jobs of round r+2
		level   int64
		skipped int // jobs of held-back groups read
	)
	offer := func(c *candidate) {
		g := group{c.task, c.key}
		if len(picked) >= limit || blocked[g] {
			return
		}
		if f == nil || f.start(c, now) {
			picked = append(picked, c.id)
		} else {
			blocked[g] = true
		}
	}
	rounds := func() { // the later rounds of a priority, once it is all read
		for _, round := range later {
			for i := range round {
				offer(&round[i])
			}
		}
		later = later[:0]
		clear(seen)
	}
	for len(picked) < limit && rows.Next() {
		c := candidate{queue: queue}
		var priority int64
		if err := rows.Scan(&c.id, &c.task, &c.key, &priority); err != nil {
			rows.Close()
			return nil, err
		}
		if len(seen) > 0 && priority != level {
			if rounds(); len(picked) >= limit {
				break
			}
		}
		level = priority
		g := group{c.task, c.key}
		if blocked[g] {
			skipped++
			continue
		}
		n := seen[g]
		seen[g] = n + 1
		if n == 0 {
			offer(&c)
			continue
		}
		for len(later) < n {
			later = append(later, nil)
		}
		later[n-1] = append(later[n-1], c)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	rounds()
	if skipped > walkAfter {
		w.walkOn(queue)
	}
	return picked, nil
}

// walkOn makes the fair fetches of queue walk for walkRecheck.
func (w *wtx) walkOn(queue string) {
	if w.walkUntil == nil {
		w.walkUntil = map[string]time.Time{}
	}
	w.walkUntil[queue] = time.Now().Add(walkRecheck)
}

// fetchWalk picks for fetchFair by walking the partitions: at each
// priority the first round takes the first job of each partition,
// in the bytewise order of jobs_partition_fetch starting after the one
// the last fetch served last (cursor), so that fetches of any size serve
// the partitions in turn; a partition held back is skipped with one seek,
// without reading its jobs. Then the jobs without a key, read in enqueue
// order, the first of each task. The later rounds share what room is left
// between the groups that had a job admitted and more waiting.
func (w *wtx) fetchWalk(f *flow, queue string, floor, ceiling int64, limit int, now time.Time) ([][]byte, error) {
	var picked [][]byte
	blocked := map[group]bool{}
	offer := func(g group, id []byte) bool {
		if blocked[g] {
			return false
		}
		if f == nil || f.start(&candidate{id: id, queue: queue, task: g.task, key: g.key}, now) {
			picked = append(picked, id)
			return true
		}
		blocked[g] = true
		return false
	}
	whole := floor == math.MinInt64 && ceiling == math.MaxInt64
	plain := !whole || time.Now().After(w.plainNone[queue])
	for top := ceiling; len(picked) < limit; {
		var pl, ul sql.NullInt64
		if err := w.queryRow(partitionLevelSQL, queue, floor, top).Scan(&pl); err != nil {
			return nil, err
		}
		if plain {
			t := time.Now()
			if err := w.queryRow(plainLevelSQL, queue, floor, top).Scan(&ul); err != nil {
				return nil, err
			}
			if !ul.Valid {
				plain = false
				if top == ceiling && whole {
					if w.plainNone == nil {
						w.plainNone = map[string]time.Time{}
					}
					w.plainNone[queue] = time.Now().Add(min(max(plainRecheck, 20*time.Since(t)), plainRecheckMax))
				}
			}
		}
		if !pl.Valid && !ul.Valid {
			break
		}
		level := pl.Int64
		if !pl.Valid || ul.Valid && ul.Int64 > level {
			level = ul.Int64
		}
		if err := w.fairLevel(queue, level, pl.Valid && pl.Int64 == level, ul.Valid && ul.Int64 == level, limit, &picked, blocked, offer); err != nil {
			return nil, err
		}
		if level == math.MinInt64 {
			break
		}
		top = level - 1
	}
	if len(blocked) > 0 {
		w.walkOn(queue) // limits still hold jobs back: walk on
	}
	return picked, nil
}

// fairLevel is fetchWalk at one priority: it adds to picked, through
// offer, what the rounds of the groups with jobs at level admit.
func (w *wtx) fairLevel(queue string, level int64, partitioned, plain bool, limit int, picked *[][]byte, blocked map[group]bool, offer func(group, []byte) bool) error {
	var served []*fairGroup
	if partitioned {
		cursor := w.cursor[queue]
		var last *group
		// From the cursor to the last partition, then from the first to
		// the cursor.
		for pass, from := range [2]group{cursor, {}} {
			if len(*picked) >= limit || pass == 1 && cursor == (group{}) {
				break
			}
			rows, err := w.query(walkSQL, queue, level, from.task, from.key)
			if err != nil {
				return err
			}
			for len(*picked) < limit && rows.Next() {
				var (
					g  group
					id []byte
				)
				if err := rows.Scan(&g.task, &g.key, &id); err != nil {
					rows.Close()
					return err
				}
				if pass == 1 && (g.task > cursor.task || g.task == cursor.task && g.key > cursor.key) {
					break // back where this fetch began
				}
				if offer(g, id) {
					served = append(served, &fairGroup{g: g, taken: 1})
					last = &served[len(served)-1].g
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
		}
		if last != nil {
			if w.cursor == nil {
				w.cursor = map[string]group{}
			}
			w.cursor[queue] = *last
		}
	}
	if plain && len(*picked) < limit {
		rows, err := w.query(plainJobsSQL, queue, level)
		if err != nil {
			return err
		}
		tasks := map[group]*fairGroup{}
		later := 0
		for len(*picked) < limit && later < limit && rows.Next() {
			var (
				id []byte
				g  group
			)
			if err := rows.Scan(&id, &g.task); err != nil {
				rows.Close()
				return err
			}
			if blocked[g] {
				continue
			}
			if t := tasks[g]; t != nil {
				t.next = append(t.next, id)
				later++
			} else if offer(g, id) {
				t := &fairGroup{g: g, plain: true, taken: 1}
				tasks[g] = t
				served = append(served, t)
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	// The later rounds: each group's share of the room left, then again
	// while groups that took their whole share may have more.
	for len(*picked) < limit && len(served) > 0 {
		share := (limit - len(*picked) + len(served) - 1) / len(served)
		for _, s := range served {
			if s.plain || blocked[s.g] {
				continue
			}
			s.next = s.next[:0]
			rows, err := w.query(partitionJobsSQL, queue, level, s.g.task, s.g.key, s.taken, share)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id []byte
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				s.next = append(s.next, id)
			}
			if err := rows.Close(); err != nil {
				return err
			}
		}
		for r := 0; r < share && len(*picked) < limit; r++ {
			for _, s := range served {
				if r < len(s.next) && len(*picked) < limit && offer(s.g, s.next[r]) {
					s.taken++
				}
			}
		}
		// Another pass only for the partitions that took their whole share
		// and are not held back: the jobs without a key were read once.
		more := served[:0]
		for _, s := range served {
			if !s.plain && !blocked[s.g] && len(s.next) == share {
				more = append(more, s)
			}
		}
		served = more
	}
	return nil
}

// queryLimits reads the stored limits, ordered by key.
func queryLimits(query func(string, ...any) (*sql.Rows, error)) ([]storage.Limit, error) {
	rows, err := query(`SELECT scope, name, concurrency, rate, period_us, burst FROM limits`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Limit
	for rows.Next() {
		var (
			l      storage.Limit
			period int64
		)
		if err := rows.Scan(&l.Scope, &l.Name, &l.Concurrency, &l.Rate, &period, &l.Burst); err != nil {
			return nil, err
		}
		l.Period = time.Duration(period) * time.Microsecond
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b storage.Limit) int { return cmp.Compare(a.Key(), b.Key()) })
	return out, rows.Err()
}

// SetLimits implements [storage.FlowControl].
func (s *Store) SetLimits(ctx context.Context, limits []storage.Limit) error {
	if err := storage.ValidateLimits(limits); err != nil {
		return err
	}
	err := s.write(ctx, func(w *wtx) error {
		for _, l := range limits {
			var err error
			if l.IsZero() {
				_, err = w.exec(`DELETE FROM limits WHERE scope = ? AND name = ?`, string(l.Scope), l.Name)
			} else {
				_, err = w.exec(`INSERT INTO limits (scope, name, concurrency, rate, period_us, burst) VALUES (?, ?, ?, ?, ?, ?)
					ON CONFLICT (scope, name) DO UPDATE SET concurrency = excluded.concurrency, rate = excluded.rate,
						period_us = excluded.period_us, burst = excluded.burst`,
					string(l.Scope), l.Name, l.Concurrency, l.Rate, l.Period.Microseconds(), l.Burst)
			}
			if err != nil {
				return err
			}
		}
		w.wake(storage.TopicEnqueued) // a raised limit may let jobs start
		return nil
	})
	return interpretError("set limits", err)
}

// Limits implements [storage.FlowControl].
func (s *Store) Limits(ctx context.Context) ([]storage.Limit, error) {
	var out []storage.Limit
	err := s.read(ctx, func(q querier) (err error) {
		out, err = queryLimits(func(query string, args ...any) (*sql.Rows, error) { return q.QueryContext(ctx, query, args...) })
		return err
	})
	return out, interpretError("limits", err)
}

// LimitUsage implements [storage.FlowControl].
func (s *Store) LimitUsage(ctx context.Context) ([]storage.LimitUsage, error) {
	var out []storage.LimitUsage
	err := s.read(ctx, func(q querier) error {
		query := func(query string, args ...any) (*sql.Rows, error) { return q.QueryContext(ctx, query, args...) }
		limits, err := queryLimits(query)
		if err != nil || len(limits) == 0 {
			return err
		}
		f := &flow{limits: map[counter]storage.Limit{}}
		use := map[counter]*storage.LimitUsage{}
		for _, l := range limits {
			k := counter{scope: l.Scope, name: l.Name}
			f.limits[k] = l
			if l.Scope != storage.ScopePartition {
				use[k] = &storage.LimitUsage{Limit: l}
			}
		}
		rows, err := query(`SELECT queue, task, coalesce(partition_key, ''), state = 'processing', count(*) FROM jobs
			WHERE state IN ('enqueued', 'processing') GROUP BY 1, 2, 3, 4`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c       candidate
				running bool
				n       int64
			)
			if err := rows.Scan(&c.queue, &c.task, &c.key, &running, &n); err != nil {
				return err
			}
			f.applying(&c, func(l storage.Limit, k counter) bool {
				u := use[k]
				if u == nil {
					u = &storage.LimitUsage{Limit: l, Partition: k.partition}
					use[k] = u
				}
				if running {
					u.Running += n
				} else {
					u.Waiting += n
				}
				return true
			})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rates, err := query(`SELECT scope, name, partition_key, tat FROM limit_rates`)
		if err != nil {
			return err
		}
		defer rates.Close()
		now := clock(time.Time{})
		for rates.Next() {
			var (
				k  counter
				us int64
			)
			if err := rates.Scan(&k.scope, &k.name, &k.partition, &us); err != nil {
				return err
			}
			u := use[k]
			if u == nil || u.Limit.Rate <= 0 {
				continue
			}
			ahead := time.Duration(u.Limit.Burst) * u.Limit.Interval()
			if tat := time.UnixMicro(us).UTC(); tat.Sub(now) > ahead {
				u.NextStart = tat.Add(-ahead)
			}
		}
		if err := rates.Err(); err != nil {
			return err
		}
		out = make([]storage.LimitUsage, 0, len(use))
		for _, u := range use {
			out = append(out, *u)
		}
		slices.SortFunc(out, func(a, b storage.LimitUsage) int {
			return cmp.Or(cmp.Compare(a.Limit.Key(), b.Limit.Key()), cmp.Compare(a.Partition, b.Partition))
		})
		return nil
	})
	return out, interpretError("limit usage", err)
}
