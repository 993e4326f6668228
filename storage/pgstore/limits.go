package pgstore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/storage"
)

var _ storage.FlowControl = (*Store)(nil)

// limitsRecheck is how often a store re-reads whether flow control is in
// use (a limit is stored, or jobs with a partition key wait), to choose
// between the plain fetch and the limited one, which serves partitions
// round robin and enforces limits. A limit stored, or a partitioned job
// created, through this store counts at once; through another process,
// within this time, when flow control was not in use before. Once it is,
// every limited fetch reads every limit in its transaction, so changes to
// them count at once.
const limitsRecheck = time.Second

// limitCache remembers whether flow control is in use.
type limitCache struct {
	any       atomic.Bool
	checkedAt atomic.Int64 // unix nanoseconds; 0: never

	// cursor is, per queue, the last partition a limited fetch found: the
	// next starts after it, so that fetches go round the partitions.
	mu     sync.Mutex
	cursor map[string][2]string
	// plainNone is, per queue, when a limited fetch last found no job
	// without a partition key there (see plainRecheck).
	plainNone map[string]time.Time
}

// plainRecheck is how long a limited fetch skips looking for jobs without
// a partition key in a queue where it found none: that look walks the
// queue's fetch index past every partitioned job, which with a large
// held-back backlog costs more than the rest of the fetch. Such jobs
// created through this store are looked for at once; created by another
// process, or requeued, within this time.
const plainRecheck = time.Second

// plainCreated makes the next limited fetches look for jobs without a
// partition key in queue.
func (c *limitCache) plainCreated(queue string) {
	c.mu.Lock()
	delete(c.plainNone, queue)
	c.mu.Unlock()
}

// lookForPlain reports whether a limited fetch should look for jobs
// without a partition key in queue.
func (c *limitCache) lookForPlain(queue string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.plainNone[queue]
	return !ok || time.Since(at) >= plainRecheck
}

// foundPlain records whether a limited fetch that looked found jobs
// without a partition key in queue.
func (c *limitCache) foundPlain(queue string, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if found {
		delete(c.plainNone, queue)
		return
	}
	if c.plainNone == nil {
		c.plainNone = map[string]time.Time{}
	}
	c.plainNone[queue] = time.Now()
}

// limitQueries is the SQL of flow control, its schema name filled in.
type limitQueries struct {
	lock, any, limits, running, rates, paused, groups, candidates, lease, saveRates, upsert, remove, usage string
}

func buildLimitQueries(r *strings.Replacer) limitQueries {
	return limitQueries{
		// One limited fetch at a time per schema, so that the slots one
		// counts are not taken by another meanwhile.
		lock: r.Replace(`SELECT pg_advisory_xact_lock(hashtext('taskflow.limits:' || '{sl}'))`),
		any: r.Replace(`SELECT EXISTS (SELECT 1 FROM {s}.limits)
	OR EXISTS (SELECT 1 FROM {s}.jobs WHERE state = 'enqueued' AND partition_key IS NOT NULL)`),
		limits:     r.Replace(`SELECT scope, name, concurrency, rate, period_us, burst, ` + clock + ` FROM {s}.limits ORDER BY scope, name`),
		running:    r.Replace(runningSQL),
		rates:      r.Replace(`SELECT scope, name, partition_key, tat FROM {s}.limit_rates`),
		paused:     r.Replace(`SELECT name FROM {s}.queues WHERE paused`),
		groups:     r.Replace(groupsSQL),
		candidates: r.Replace(candidatesSQL),
		lease:      r.Replace(leaseSQL),
		saveRates: r.Replace(`INSERT INTO {s}.limit_rates (scope, name, partition_key, tat)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (scope, name, partition_key) DO UPDATE SET tat = EXCLUDED.tat`),
		upsert: r.Replace(`INSERT INTO {s}.limits (scope, name, concurrency, rate, period_us, burst)
SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::int8[], $6::int4[])
ON CONFLICT (scope, name) DO UPDATE SET concurrency = EXCLUDED.concurrency, rate = EXCLUDED.rate,
	period_us = EXCLUDED.period_us, burst = EXCLUDED.burst, updated_at = now()`),
		remove: r.Replace(`WITH gone AS (DELETE FROM {s}.limits l USING unnest($1::text[], $2::text[]) AS d(scope, name)
	WHERE (l.scope, l.name) = (d.scope, d.name) RETURNING l.scope, l.name)
DELETE FROM {s}.limit_rates r USING gone WHERE (r.scope, r.name) = (gone.scope, gone.name)`),
		usage: r.Replace(usageSQL),
	}
}

// runningSQL: () → queue, task, partition key, count of the leased jobs.
// It reads the lease index: a job holds a lease exactly while it is
// Processing.
const runningSQL = `SELECT queue, task, coalesce(partition_key, ''), count(*) FROM {s}.jobs
WHERE lease_until IS NOT NULL AND state = 'processing' GROUP BY 1, 2, 3`

// groupsSQL: $1 queues, $2 and $3 where to start in each (after that task
// and partition key), $4 and $5 the partitions held back (task, key), $6
// the tasks held back, $7 the most to return → queue, task, partition key
// of partitions with Enqueued jobs, found by a loose scan of
// jobs_partition_fetch: one index probe per partition, however many jobs
// each holds, and no more probes than it takes to find $7 not held back.
const groupsSQL = `WITH RECURSIVE g AS (
	SELECT q.name AS queue, f.task, f.partition_key FROM unnest($1::text[], $2::text[], $3::text[]) AS q(name, ct, cp)
	CROSS JOIN LATERAL (
		SELECT task, partition_key FROM {s}.jobs
		WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = q.name AND (task, partition_key) > (q.ct, q.cp)
		ORDER BY task, partition_key LIMIT 1) f
	UNION ALL
	SELECT g.queue, f.task, f.partition_key FROM g CROSS JOIN LATERAL (
		SELECT task, partition_key FROM {s}.jobs
		WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = g.queue
			AND (task, partition_key) > (g.task, g.partition_key)
		ORDER BY task, partition_key LIMIT 1) f
)
SELECT queue, task, partition_key FROM g
WHERE task <> ALL($6::text[])
	AND NOT EXISTS (SELECT 1 FROM unnest($4::text[], $5::text[]) AS b(task, pk) WHERE b.task = g.task AND b.pk = g.partition_key)
LIMIT $7`

// candidatesSQL: $1–$6 the open partitions (queue, task, partition key,
// most jobs to take, least and greatest priority: a bound checked on the
// jobs locked; the order is jobs_partition_fetch's, on -priority, which
// jobs_fetch cannot serve, so the planner takes the partition's index
// whatever its statistics), $7–$10 the queues
// (name, most jobs, least and greatest priority), $11 the tasks whose jobs
// without a partition key are held back → id, queue, task, partition key,
// priority, enqueued_seq of the first jobs of each, locked.
const candidatesSQL = `
SELECT c.id, c.queue, c.task, coalesce(c.partition_key, ''), c.priority, c.enqueued_seq
FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int4[], $6::int4[]) AS g(queue, task, pk, n, floor, ceiling)
CROSS JOIN LATERAL (
	SELECT id, queue, task, partition_key, priority, enqueued_seq FROM {s}.jobs
	WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = g.queue AND task = g.task AND partition_key = g.pk
	ORDER BY -(priority::bigint), enqueued_seq LIMIT g.n FOR NO KEY UPDATE SKIP LOCKED) c
WHERE c.priority BETWEEN g.floor AND g.ceiling
UNION ALL
SELECT c.id, c.queue, c.task, '', c.priority, c.enqueued_seq
FROM unnest($7::text[], $8::int4[], $9::int4[], $10::int4[]) AS q(name, n, floor, ceiling)
CROSS JOIN LATERAL (
	SELECT id, queue, task, priority, enqueued_seq FROM {s}.jobs
	WHERE state = 'enqueued' AND queue = q.name AND priority BETWEEN q.floor AND q.ceiling
		AND partition_key IS NULL AND task <> ALL($11::text[])
	ORDER BY priority DESC, enqueued_seq LIMIT q.n FOR NO KEY UPDATE SKIP LOCKED) c`

// leaseSQL: $1 now, $2 ids, $3 owner, $4 lease (µs) → jobCols of the jobs
// leased, which the caller has locked.
var leaseSQL = `
WITH old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE id = ANY($2::uuid[]) AND state = 'enqueued'
), moved AS (
	UPDATE {s}.jobs j SET ` + leaseSet + `
	WHERE j.id = ANY(ARRAY(SELECT id FROM old))
	RETURNING ` + jobRow + `
), ` + leaveHistory("true") + `
SELECT ` + jobCols + ` FROM moved`

// usageSQL: () → scope, name, partition key, running and waiting counts of
// every limit, per partition for ScopePartition.
const usageSQL = `
WITH c AS (
	SELECT queue, task, coalesce(partition_key, '') AS pk, count(*) FILTER (WHERE state = 'processing') AS running,
		count(*) FILTER (WHERE state = 'enqueued') AS waiting
	FROM {s}.jobs WHERE state IN ('enqueued', 'processing') GROUP BY 1, 2, 3
)
SELECT l.scope, l.name, '', coalesce(sum(c.running), 0)::int8, coalesce(sum(c.waiting), 0)::int8
FROM {s}.limits l LEFT JOIN c ON CASE l.scope WHEN 'queue' THEN c.queue ELSE c.task END = l.name
WHERE l.scope <> 'partition' GROUP BY 1, 2
UNION ALL
SELECT l.scope, l.name, c.pk, sum(c.running)::int8, sum(c.waiting)::int8
FROM {s}.limits l JOIN c ON c.task = l.name WHERE l.scope = 'partition' GROUP BY 1, 2, 3`

// flowCreated notes, for limited fetches in this process, jobs being
// created: partitioned ones put flow control in use at once, and the
// others are looked for in their queue at once (see plainRecheck).
func (s *Store) flowCreated(jobs []*storage.Job) {
	var plain string
	for _, j := range jobs {
		if j.Partition != "" {
			s.flowInUse()
		} else if j.Queue != plain && s.limitCache.any.Load() {
			plain = j.Queue
			s.limitCache.plainCreated(j.Queue)
		}
	}
}

// flowInUse marks flow control in use, at once, in this process.
func (s *Store) flowInUse() {
	s.limitCache.any.Store(true)
	s.limitCache.checkedAt.Store(time.Now().UnixNano())
}

// hasLimits reports whether flow control is in use (see limitsRecheck),
// from the cache when it was checked less than limitsRecheck ago.
func (s *Store) hasLimits(ctx context.Context) (bool, error) {
	c := &s.limitCache
	if at := c.checkedAt.Load(); at != 0 && time.Since(time.Unix(0, at)) < limitsRecheck {
		return c.any.Load(), nil
	}
	var some bool
	if err := s.db.QueryRow(ctx, s.q.lim.any).Scan(&some); err != nil {
		return false, interpretError("check limits", err)
	}
	c.any.Store(some)
	c.checkedAt.Store(time.Now().UnixNano())
	return some, nil
}

// SetLimits implements [storage.FlowControl]. It takes the lock of limited
// fetches, so that none counts slots against limits half changed.
func (s *Store) SetLimits(ctx context.Context, limits []storage.Limit) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := storage.ValidateLimits(limits); err != nil {
		return err
	}
	var (
		scopes, names, goneScopes, goneNames []string
		conc, rates, bursts                  []int32
		periods                              []int64
	)
	for _, l := range limits {
		if l.IsZero() {
			goneScopes, goneNames = append(goneScopes, string(l.Scope)), append(goneNames, l.Name)
			continue
		}
		scopes, names = append(scopes, string(l.Scope)), append(names, l.Name)
		conc, rates, bursts = append(conc, int32(l.Concurrency)), append(rates, int32(l.Rate)), append(bursts, int32(l.Burst))
		periods = append(periods, l.Period.Microseconds())
	}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(s.q.lim.lock)
		b.Queue(s.q.lim.remove, goneScopes, goneNames)
		b.Queue(s.q.lim.upsert, scopes, names, conc, rates, periods, bursts)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return interpretError("set limits", err)
	}
	if len(scopes) > 0 {
		s.flowInUse()
	} else {
		s.limitCache.checkedAt.Store(0)
	}
	return s.wake(ctx, storage.TopicEnqueued) // a raised limit may let jobs start
}

// Limits implements [storage.FlowControl].
func (s *Store) Limits(ctx context.Context) ([]storage.Limit, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out, _, err := s.readLimits(ctx, s.db)
	return out, err
}

func (s *Store) readLimits(ctx context.Context, db db) ([]storage.Limit, time.Time, error) {
	rows, err := db.Query(ctx, s.q.lim.limits, nil)
	if err != nil {
		return nil, time.Time{}, interpretError("read limits", err)
	}
	var (
		l      storage.Limit
		scope  string
		period int64
		now    time.Time
		out    []storage.Limit
	)
	_, err = pgx.ForEachRow(rows, []any{&scope, &l.Name, &l.Concurrency, &l.Rate, &period, &l.Burst, &now}, func() error {
		l.Scope, l.Period = storage.LimitScope(scope), time.Duration(period)*time.Microsecond
		out = append(out, l)
		return nil
	})
	return out, now, interpretError("read limits", err)
}

// LimitUsage implements [storage.FlowControl].
func (s *Store) LimitUsage(ctx context.Context) ([]storage.LimitUsage, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	limits, err := s.Limits(ctx)
	if err != nil {
		return nil, err
	}
	byKey := map[string]storage.Limit{}
	for _, l := range limits {
		byKey[l.Key()] = l
	}
	tats, err := s.readRates(ctx, s.db)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, s.q.lim.usage)
	if err != nil {
		return nil, interpretError("limit usage", err)
	}
	var (
		u           storage.LimitUsage
		scope, name string
		out         []storage.LimitUsage
	)
	now := time.Now()
	_, err = pgx.ForEachRow(rows, []any{&scope, &name, &u.Partition, &u.Running, &u.Waiting}, func() error {
		u.Limit = byKey[scope+":"+name]
		u.NextStart = time.Time{}
		k := counter{u.Limit.Scope, u.Limit.Name, u.Partition}
		if ok, _ := storage.GCRA(u.Limit, tats[k], now); !ok {
			u.NextStart = tats[k].Add(-time.Duration(u.Limit.Burst) * u.Limit.Interval())
		}
		out = append(out, u)
		return nil
	})
	if err != nil {
		return nil, interpretError("limit usage", err)
	}
	slices.SortFunc(out, func(a, b storage.LimitUsage) int {
		return cmp.Or(cmp.Compare(a.Limit.Key(), b.Limit.Key()), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

// counter is what a limit counts: its scope, and for ScopePartition one
// partition.
type counter struct {
	scope     storage.LimitScope
	name      string
	partition string
}

func (s *Store) readRates(ctx context.Context, db db) (map[counter]time.Time, error) {
	rows, err := db.Query(ctx, s.q.lim.rates)
	if err != nil {
		return nil, interpretError("read rates", err)
	}
	var (
		k     counter
		scope string
		tat   time.Time
	)
	out := map[counter]time.Time{}
	_, err = pgx.ForEachRow(rows, []any{&scope, &k.name, &k.partition, &tat}, func() error {
		k.scope = storage.LimitScope(scope)
		out[k] = tat
		return nil
	})
	return out, interpretError("read rates", err)
}

// flow is the state of one limited fetch: the limits, the jobs each
// counts running and the GCRA times, as read under the lock.
type flow struct {
	limits  map[counter]storage.Limit // by scope and name (partition empty)
	running map[counter]int64
	tat     map[counter]time.Time
	changed map[counter]bool // GCRA times to store
	now     time.Time
}

// applying calls fn with each limit that applies to a job of queue, task
// and partition, and the counter it counts the job under; it stops at the
// first false.
func (f *flow) applying(queue, task, partition string, fn func(l storage.Limit, c counter) bool) bool {
	for _, c := range [3]counter{{storage.ScopeQueue, queue, ""}, {storage.ScopeTask, task, ""}, {storage.ScopePartition, task, ""}} {
		l, ok := f.limits[c]
		if !ok {
			continue
		}
		if c.scope == storage.ScopePartition {
			c.partition = partition
		}
		if !fn(l, c) {
			return false
		}
	}
	return true
}

// room reports how many more jobs may start under l counted by c now, by
// concurrency (rates are checked one start at a time), and whether l
// bounds it at all.
func (f *flow) room(l storage.Limit, c counter) (int64, bool) {
	if l.Concurrency == 0 {
		return 0, false
	}
	return max(int64(l.Concurrency)-f.running[c], 0), true
}

// open reports whether a job may start now under every limit.
func (f *flow) open(queue, task, partition string) bool {
	return f.applying(queue, task, partition, func(l storage.Limit, c counter) bool {
		if n, bounded := f.room(l, c); bounded && n == 0 {
			return false
		}
		ok, _ := storage.GCRA(l, f.tat[c], f.now)
		return ok
	})
}

// start counts a start of a job, if every limit lets it start now.
func (f *flow) start(queue, task, partition string) bool {
	if !f.open(queue, task, partition) {
		return false
	}
	f.applying(queue, task, partition, func(l storage.Limit, c counter) bool {
		if l.Concurrency > 0 {
			f.running[c]++
		}
		if l.Rate > 0 {
			_, f.tat[c] = storage.GCRA(l, f.tat[c], f.now)
			f.changed[c] = true
		}
		return true
	})
	return true
}

// candidate is a job a limited fetch may lease.
type candidate struct {
	id                     [16]byte
	queue, task, partition string
	priority               int
	seq                    int64
	queueAt, rank          int
	turn                   int // the partition's place in this round, from the cursor
}

// fetchLimited leases up to p.Limit jobs under the stored limits, serving
// the partitions of each queue and priority round robin, in one
// transaction under the lock of limited fetches: it reads the limits, the
// jobs running and the GCRA times; finds the queues' partitions (see
// groupsSQL) and locks the first jobs of those no limit holds back, and
// of the jobs without a partition; admits them in round-robin order while
// the limits allow; leases those and stores the new GCRA times. Jobs
// locked and not admitted are unlocked at commit.
func (s *Store) fetchLimited(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	queues, floors, ceilings := fetchRange(p.Queues, p.Above, p.NotAbove)
	var jobs []*storage.Job
	admitted := map[uuid.UUID]int{}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		f, paused, err := s.readFlow(ctx, tx, p.Now)
		if err != nil {
			return err
		}
		var qs []string
		var qFloors, qCeilings []int32
		for i, q := range queues {
			if !paused[q] {
				qs, qFloors, qCeilings = append(qs, q), append(qFloors, floors[i]), append(qCeilings, ceilings[i])
			}
		}
		if len(qs) == 0 {
			return nil
		}
		cands, err := s.candidates(ctx, tx, f, p.Limit, qs, qFloors, qCeilings)
		if err != nil || len(cands) == 0 {
			return err
		}
		var ids []pgtype.UUID
		last := map[string][2]string{} // per queue, the last partition served
		for _, c := range cands {
			if len(ids) == p.Limit {
				break
			}
			if f.start(c.queue, c.task, c.partition) {
				admitted[c.id] = len(ids)
				ids = append(ids, pgtype.UUID{Bytes: c.id, Valid: true})
				if c.partition != "" {
					last[c.queue] = [2]string{c.task, c.partition}
				}
			}
		}
		s.limitCache.advance(last)
		if len(ids) == 0 {
			return nil
		}
		rows, err := tx.Query(ctx, s.q.lim.lease, ts(p.Now), array[pgtype.UUID](ids), p.Owner, p.LeaseFor.Microseconds())
		if err != nil {
			return err
		}
		var js jobScanner
		if jobs, err = pgx.CollectRows(rows, js.scan); err != nil {
			return err
		}
		return s.saveRates(ctx, tx, f)
	})
	if err != nil {
		return nil, interpretError("fetch under limits", err)
	}
	// Hand the jobs out in the order they were admitted.
	slices.SortFunc(jobs, func(a, b *storage.Job) int { return cmp.Compare(admitted[a.ID], admitted[b.ID]) })
	return jobs, nil
}

// readFlow takes the lock of limited fetches and reads, in one round trip,
// the limits, the running jobs, the GCRA times and the paused queues.
func (s *Store) readFlow(ctx context.Context, tx pgx.Tx, now time.Time) (*flow, map[string]bool, error) {
	f := &flow{limits: map[counter]storage.Limit{}, running: map[counter]int64{}, changed: map[counter]bool{}}
	b := &pgx.Batch{}
	b.Queue(s.q.lim.lock)
	b.Queue(s.q.lim.limits, ts(now)).Query(func(rows pgx.Rows) error {
		var (
			l      storage.Limit
			scope  string
			period int64
		)
		_, err := pgx.ForEachRow(rows, []any{&scope, &l.Name, &l.Concurrency, &l.Rate, &period, &l.Burst, &f.now}, func() error {
			l.Scope, l.Period = storage.LimitScope(scope), time.Duration(period)*time.Microsecond
			f.limits[counter{l.Scope, l.Name, ""}] = l
			return nil
		})
		return err
	})
	var running []struct {
		queue, task, partition string
		n                      int64
	}
	b.Queue(s.q.lim.running).Query(func(rows pgx.Rows) error {
		var r struct {
			queue, task, partition string
			n                      int64
		}
		_, err := pgx.ForEachRow(rows, []any{&r.queue, &r.task, &r.partition, &r.n}, func() error {
			running = append(running, r)
			return nil
		})
		return err
	})
	b.Queue(s.q.lim.rates).Query(func(rows pgx.Rows) error {
		var (
			k     counter
			scope string
			tat   time.Time
		)
		f.tat = map[counter]time.Time{}
		_, err := pgx.ForEachRow(rows, []any{&scope, &k.name, &k.partition, &tat}, func() error {
			k.scope = storage.LimitScope(scope)
			f.tat[k] = tat
			return nil
		})
		return err
	})
	paused := map[string]bool{}
	b.Queue(s.q.lim.paused).Query(func(rows pgx.Rows) error {
		var q string
		_, err := pgx.ForEachRow(rows, []any{&q}, func() error { paused[q] = true; return nil })
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}
	if f.now.IsZero() {
		f.now = now
		if now.IsZero() {
			f.now = time.Now()
		}
	}
	for _, r := range running {
		f.applying(r.queue, r.task, r.partition, func(l storage.Limit, c counter) bool {
			f.running[c] += r.n
			return true
		})
	}
	return f, paused, nil
}

// candidates locks the jobs a limited fetch may lease and returns them in
// the order it serves them: by queue, higher priority first, then round
// robin between partitions (the jobs without a partition of one task
// counting as one), then as they were enqueued.
func (s *Store) candidates(ctx context.Context, tx pgx.Tx, f *flow, limit int, queues []string, floors, ceilings []int32) ([]candidate, error) {
	groups, err := s.openGroups(ctx, tx, f, limit, queues)
	if err != nil {
		return nil, err
	}
	// Each open partition gets its share of the fetch, at least one job,
	// and no more than its limits' room.
	share := int32(min(limit, limit/max(len(groups), 1)+1))
	var gq, gt, gp []string
	var gn, gf, gc []int32
	for _, g := range groups {
		n := share
		f.applying(g.queue, g.task, g.partition, func(l storage.Limit, c counter) bool {
			if r, bounded := f.room(l, c); bounded {
				n = min(n, int32(r))
			}
			return true
		})
		i := slices.Index(queues, g.queue)
		gq, gt, gp, gn, gf, gc = append(gq, g.queue), append(gt, g.task), append(gp, g.partition), append(gn, n), append(gf, floors[i]), append(gc, ceilings[i])
	}
	// Jobs without a partition: held back whole for a task whose limit, or
	// whose partition limit for no key, is full; a queue's limit bounds
	// how many to lock.
	held := []string{} // not NULL: task <> ALL(NULL) is never true
	for c, l := range f.limits {
		if c.scope != storage.ScopeQueue && !f.open("", l.Name, "") {
			held = append(held, l.Name)
		}
	}
	qn := make([]int32, len(queues))
	for i, q := range queues {
		qn[i] = int32(limit)
		if !s.limitCache.lookForPlain(q) {
			qn[i] = 0 // LIMIT 0: no index scan
			continue
		}
		if l, ok := f.limits[counter{storage.ScopeQueue, q, ""}]; ok {
			if !f.open(q, "", "") {
				qn[i] = 0
			} else if r, bounded := f.room(l, counter{storage.ScopeQueue, q, ""}); bounded {
				qn[i] = min(qn[i], int32(r))
			}
		}
	}
	rows, err := tx.Query(ctx, s.q.lim.candidates, gq, gt, gp, gn, gf, gc, queues, qn, floors, ceilings, held)
	if err != nil {
		return nil, err
	}
	var (
		c     candidate
		out   []candidate
		ranks = map[group]int{}
	)
	if _, err := pgx.ForEachRow(rows, []any{&c.id, &c.queue, &c.task, &c.partition, &c.priority, &c.seq}, func() error {
		out = append(out, c)
		return nil
	}); err != nil {
		return nil, err
	}
	plain := map[string]bool{}
	for _, c := range out {
		if c.partition == "" {
			plain[c.queue] = true
		}
	}
	for i, q := range queues {
		if qn[i] > 0 {
			s.limitCache.foundPlain(q, plain[q])
		}
	}
	turns := make(map[group]int, len(groups))
	for i, g := range groups {
		turns[g] = i
	}
	slices.SortFunc(out, func(a, b candidate) int { return cmp.Compare(a.seq, b.seq) })
	for i := range out {
		c := &out[i]
		c.queueAt = slices.Index(queues, c.queue)
		k := group{c.queue, c.task, c.partition}
		c.rank = ranks[k]
		ranks[k]++
		c.turn = len(groups) // jobs without a partition come last in a round
		if t, ok := turns[k]; ok {
			c.turn = t
		}
	}
	slices.SortFunc(out, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.queueAt, b.queueAt), cmp.Compare(b.priority, a.priority), cmp.Compare(a.rank, b.rank),
			cmp.Compare(a.turn, b.turn), cmp.Compare(a.seq, b.seq))
	})
	return out, nil
}

// group is a partition of a queue: the jobs of one task and partition key.
type group struct{ queue, task, partition string }

// groupWindow is the fewest partitions a limited fetch looks at: priority
// between partitions is exact among those it looks at, and each fetch
// looks at max(its limit, groupWindow) of them.
const groupWindow = 64

// openGroups returns partitions of queues that no limit holds back, going
// round: from after the last one the previous fetch found, then from the
// start; at most max(fetch, groupWindow) of them.
func (s *Store) openGroups(ctx context.Context, tx pgx.Tx, f *flow, fetch int, queues []string) ([]group, error) {
	limit := max(fetch, groupWindow)
	heldTasks, heldT, heldP := []string{}, []string{}, []string{}
	for c, l := range f.limits {
		if c.scope == storage.ScopeTask && !f.open("", l.Name, "") {
			heldTasks = append(heldTasks, l.Name)
		}
	}
	for c := range f.running {
		if c.scope == storage.ScopePartition && !f.open("", c.name, c.partition) {
			heldT, heldP = append(heldT, c.name), append(heldP, c.partition)
		}
	}
	for c := range f.tat {
		if c.scope == storage.ScopePartition && !f.open("", c.name, c.partition) {
			heldT, heldP = append(heldT, c.name), append(heldP, c.partition)
		}
	}
	var open []string // queues no queue limit holds back
	for _, q := range queues {
		if f.open(q, "", "") {
			open = append(open, q)
		}
	}
	if len(open) == 0 {
		return nil, nil
	}
	c := &s.limitCache
	c.mu.Lock()
	ct, cp := make([]string, len(open)), make([]string, len(open))
	for i, q := range open {
		cur := c.cursor[q]
		ct[i], cp[i] = cur[0], cur[1]
	}
	c.mu.Unlock()
	var out []group
	seen := map[group]bool{}
	rounds := 1
	if slices.ContainsFunc(ct, func(t string) bool { return t != "" }) {
		rounds = 2 // then from the start
	}
	for round := 0; round < rounds && len(out) < limit; round++ {
		rows, err := tx.Query(ctx, s.q.lim.groups, open, ct, cp, heldT, heldP, heldTasks, limit-len(out))
		if err != nil {
			return nil, err
		}
		var g group
		n := 0
		if _, err := pgx.ForEachRow(rows, []any{&g.queue, &g.task, &g.partition}, func() error {
			n++
			if !seen[g] && f.open(g.queue, g.task, g.partition) {
				seen[g] = true
				out = append(out, g)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		ct, cp = make([]string, len(open)), make([]string, len(open))
	}
	return out, nil
}

// advance moves the cursor of each queue of last past the partition
// served last, so that the next fetch starts its round after it.
func (c *limitCache) advance(last map[string][2]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cursor == nil {
		c.cursor = map[string][2]string{}
	}
	for q, g := range last {
		c.cursor[q] = g
	}
}

// saveRates stores the GCRA times the fetch moved.
func (s *Store) saveRates(ctx context.Context, tx pgx.Tx, f *flow) error {
	if len(f.changed) == 0 {
		return nil
	}
	var scopes, names, parts []string
	var tats []time.Time
	for c := range f.changed {
		scopes, names, parts, tats = append(scopes, string(c.scope)), append(names, c.name), append(parts, c.partition), append(tats, f.tat[c])
	}
	_, err := tx.Exec(ctx, s.q.lim.saveRates, scopes, names, parts, tats)
	return err
}
