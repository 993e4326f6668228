package pgstore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

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
	// boundAt is when a fetch last found that a limit could bind it (see
	// fetchFree); 0: not since the limits were last set here.
	boundAt atomic.Int64
}

// freeFetchMin is the least Limit of a limited fetch that first asks
// whether a limit can bind it (see fetchFree). A smaller fetch saves less
// than the round trip the question costs.
const freeFetchMin = 16

// freeRecheck is how long limited fetches go straight to fetch_limited
// after one found that a limit could bind it.
const freeRecheck = time.Second

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

// foundPlainLocked records whether a limited fetch that looked found jobs
// without a partition key in queue; c.mu is held.
func (c *limitCache) foundPlainLocked(queue string, found bool) {
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
	lock, any, limits, rates, fetch, upsert, remove, usage, lockFree, free string
}

func buildLimitQueries(r *strings.Replacer) limitQueries {
	return limitQueries{
		// The lock of limited fetches, which fetch_limited takes while
		// limits are stored (the same key: the quoted schema name).
		lock: r.Replace(`SELECT pg_advisory_xact_lock(hashtext('taskflow.limits:' || '{sl}'))`),
		any: r.Replace(`SELECT EXISTS (SELECT 1 FROM {s}.limits)
	OR EXISTS (SELECT 1 FROM {s}.jobs WHERE state = 'enqueued' AND partition_key IS NOT NULL)`),
		limits: r.Replace(`SELECT scope, name, concurrency, rate, period_us, burst, ` + clock + ` FROM {s}.limits ORDER BY scope, name`),
		rates:  r.Replace(`SELECT scope, name, partition_key, tat FROM {s}.limit_rates`),
		fetch:  r.Replace(fetchLimitedSQL),
		upsert: r.Replace(`INSERT INTO {s}.limits (scope, name, concurrency, rate, period_us, burst)
SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::int8[], $6::int4[])
ON CONFLICT (scope, name) DO UPDATE SET concurrency = EXCLUDED.concurrency, rate = EXCLUDED.rate,
	period_us = EXCLUDED.period_us, burst = EXCLUDED.burst, updated_at = now()`),
		remove: r.Replace(`WITH gone AS (DELETE FROM {s}.limits l USING unnest($1::text[], $2::text[]) AS d(scope, name)
	WHERE (l.scope, l.name) = (d.scope, d.name) RETURNING l.scope, l.name)
DELETE FROM {s}.limit_rates r USING gone WHERE (r.scope, r.name) = (gone.scope, gone.name)`),
		usage: r.Replace(usageSQL),
		// The lock of limited fetches, with sequential scans off (see
		// freeSQL) and so JIT compilation too (a disabled scan's cost
		// would call for it), until the next statement sets them back.
		lockFree: r.Replace(`SELECT current_setting('enable_seqscan'), current_setting('jit'),
	set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true),
	pg_advisory_xact_lock(hashtext('taskflow.limits:' || '{sl}'))`),
		free: r.Replace(freeSQL),
	}
}

// freeSQL: $1 limit, $2 queues → whether no limit can bind a fetch of $1
// jobs from those queues: none counts starts or is smaller than the
// fetch, each concurrency counter (a queue, a task, a task's fullest
// partition, its jobs without a key counting as one) has room for all of
// it, and no job with a partition key waits there (those are served round
// robin). It is the condition on which fetch_limited leases as the plain
// fetch does. It runs under the same lock, with sequential scans off so
// that the leased jobs are counted through the lease index whatever the
// statistics.
const freeSQL = `
WITH r AS (
	SELECT queue, task, count(*) AS n FROM {s}.jobs
	WHERE lease_until IS NOT NULL AND state = 'processing' GROUP BY queue, task, partition_key
)
SELECT NOT EXISTS (SELECT 1 FROM {s}.limits WHERE rate > 0 OR concurrency < $1)
	AND NOT EXISTS (SELECT 1 FROM unnest($2::text[]) AS q(name) WHERE EXISTS (SELECT 1 FROM {s}.jobs
		WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = q.name))
	AND NOT EXISTS (SELECT 1 FROM {s}.limits l JOIN (
			SELECT 'queue' AS scope, queue AS name, sum(n) AS n FROM r GROUP BY queue
			UNION ALL SELECT 'task', task, sum(n) FROM r GROUP BY task
			UNION ALL SELECT 'partition', task, max(n) FROM r GROUP BY task) c
		ON (c.scope, c.name) = (l.scope, l.name)
		WHERE l.concurrency - c.n < $1)`

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
	s.limitCache.boundAt.Store(0) // changed limits may bind no fetch
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

// fetchLimitedSQL: $1 now, $2 limit, $3 owner, $4 lease (µs), $5 queues,
// $6 floors and $7 ceilings of priority per queue, $8 and $9 the partition
// (task and key) each queue's last fetch served last, $10 whether to look
// for jobs without a partition key in each → jobCols and the order served
// of the jobs leased; and, for each queue looked in for jobs without a
// partition key, a row with only its queue, and 1 when some were found,
// else 0 (see fetch_limited in migrations/016_fetch_limited_lookups.sql).
const fetchLimitedSQL = `SELECT ` + jobCols + `, served FROM (
	SELECT (f.job).*, f.served FROM {s}.fetch_limited($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) f) j`

// fetchLimited leases up to p.Limit jobs under the stored limits, serving
// the partitions of each queue and priority round robin, in one call of
// fetch_limited (one round trip): under the lock of limited fetches it
// counts the jobs running and the rate limits' GCRA times, finds the
// queues' partitions from after the one the last fetch served last, reads
// the first jobs of those no limit holds back (and of the jobs without a
// partition key), admits them in round-robin order while the limits
// allow, locks and leases those and stores the new GCRA times. A fetch no
// limit can bind, from queues where no partitioned job waits, is the
// plain fetch under the lock.
func (s *Store) fetchLimited(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	queues, floors, ceilings := fetchRange(p.Queues, p.Above, p.NotAbove)
	if len(queues) == 0 {
		return nil, nil
	}
	cursorTasks, cursorKeys, plain := make([]string, len(queues)), make([]string, len(queues)), make([]bool, len(queues))
	c := &s.limitCache
	c.mu.Lock()
	for i, q := range queues {
		cur := c.cursor[q]
		cursorTasks[i], cursorKeys[i] = cur[0], cur[1]
		at, none := c.plainNone[q]
		plain[i] = !none || time.Since(at) >= plainRecheck
	}
	c.mu.Unlock()
	args := []any{ts(p.Now), p.Limit, p.Owner, p.LeaseFor.Microseconds(), queues, floors, ceilings, cursorTasks, cursorKeys, plain}
	if !s.inTx && p.Limit >= freeFetchMin && time.Since(time.Unix(0, c.boundAt.Load())) >= freeRecheck {
		return s.fetchFree(ctx, p, queues, args)
	}
	rows, err := s.db.Query(ctx, s.q.lim.fetch, args...)
	if err != nil {
		return nil, interpretError("fetch under limits", err)
	}
	jobs, err := s.readLimited(rows)
	if err != nil {
		return nil, interpretError("fetch under limits", err)
	}
	return jobs, nil
}

// readLimited reads the rows of fetch_limited: the jobs leased, handed out
// in the order served, and the queues looked in for jobs without a
// partition key. The next fetch starts each queue's round after the
// partition served last.
func (s *Store) readLimited(rows pgx.Rows) ([]*storage.Job, error) {
	js := jobScanner{seqs: []int64{}}
	var jobs []*storage.Job
	looked := map[string]bool{} // queue → found jobs without a partition key
	for rows.Next() {
		if rows.RawValues()[0] == nil { // a queue looked in
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				return nil, err
			}
			q, _ := vals[3].(string)
			found, _ := vals[len(vals)-1].(int64)
			looked[q] = found == 1
			continue
		}
		j, err := js.scan(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	order := make(map[*storage.Job]int64, len(jobs))
	for i, j := range jobs {
		order[j] = js.seqs[i]
	}
	slices.SortFunc(jobs, func(a, b *storage.Job) int { return cmp.Compare(order[a], order[b]) })
	c := &s.limitCache
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, j := range jobs {
		if j.Partition != "" {
			if c.cursor == nil {
				c.cursor = map[string][2]string{}
			}
			c.cursor[j.Queue] = [2]string{j.Task, j.Partition}
		}
	}
	for q, found := range looked {
		c.foundPlainLocked(q, found)
	}
	return jobs, nil
}

// fetchFree is fetchLimited for a large fetch that no limit may bind. In
// one transaction on one connection it takes the lock of limited fetches
// and asks freeSQL whether a limit can bind the fetch; if none can, it
// leases with the statement of a fetch without limits, else it calls
// fetch_limited (args). That is two round trips where fetch_limited alone
// is one, but fetch_limited returns its jobs as composite rows through a
// tuplestore, which cost the server 3.5–4 µs a job more than the plain
// statement (BenchmarkFlowWorkers/queue-never-binding). A fetch that finds
// a limit able to bind sends those after it for freeRecheck to
// fetch_limited alone.
func (s *Store) fetchFree(ctx context.Context, p *storage.FetchParams, queues []string, args []any) ([]*storage.Job, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, interpretError("fetch under limits", err)
	}
	// A connection that an error leaves in the transaction is closed on
	// release, not reused, and the server rolls the transaction back.
	defer conn.Release()
	var (
		seqscan, jit string
		free         bool
	)
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED") // each statement sees what committed before it
	b.Queue(s.q.lim.lockFree)
	b.Queue(s.q.lim.free, p.Limit, queues)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&seqscan, &jit, nil, nil, nil)
	}
	if err == nil {
		err = br.QueryRow().Scan(&free)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, interpretError("fetch under limits", err)
	}
	sql := s.q.lim.fetch
	if free {
		sql, args = s.plainFetch(p)
	} else {
		s.limitCache.boundAt.Store(time.Now().UnixNano())
	}
	b = &pgx.Batch{}
	b.Queue(`SELECT set_config('enable_seqscan', $1, true), set_config('jit', $2, true)`, seqscan, jit)
	b.Queue(sql, args...)
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	var jobs []*storage.Job
	_, err = br.Exec()
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			if free {
				jobs, err = readFetched(rows, p.Queues)
			} else {
				jobs, err = s.readLimited(rows)
			}
		}
	}
	if err == nil {
		_, err = br.Exec() // a lease counts once committed
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, interpretError("fetch under limits", err)
	}
	return jobs, nil
}
