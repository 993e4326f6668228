package redisstore

import "github.com/google/uuid"

// Every key of a store starts with its prefix, "{name}:", whose braces make
// it a hash tag: on Redis Cluster all of a store's keys map to one slot, so
// every script can reach any of them. Key names:
//
//	j:<id>                  hash: a job (fields below)
//	q:<queue>               sorted set: the queue's Enqueued jobs, scored -priority, members sequence+ID
//	s:<state>:<queue>       sorted set (by ID): the queue's jobs in a Scheduled, Awaiting or final state
//	s:active:<queue>        sorted set (by ID): the queue's Enqueued and Processing jobs
//	c:<parent>              sorted set (by ID): the jobs that continue a job or batch
//	ix                      string: set once s:active:… and c:… hold every job (see listindex.go)
//	sched                   sorted set: Scheduled jobs by run time
//	lease                   sorted set: Processing jobs by lease expiry
//	x:<n>, xb, xn           expiring final jobs: buckets of at most 128 (sorted
//	                        sets by expiry), the buckets by earliest expiry, and
//	                        the count of entries filed (see expflush in lua/lib.lua)
//	exp                     sorted set by expiry: expiring jobs of stores written
//	                        before the buckets, pruned first, no longer written
//	seq, tok                the last enqueue sequence (see sequence in lua/lib.lua),
//	                        and the last fencing token (see token there)
//	queues, paused          sets: queues jobs are filed in (forgotten as their last job leaves), paused queues
//	u:<key>                 string: the job that last took a unique key
//	b:<batch>, bm:<batch>   hash of counts, and set of the batch's jobs
//	batches                 sorted set (by ID): the batches that have jobs
//	aw:<parent>             set: the jobs Awaiting a job or batch
//	log:<id>, prog:<id>     list of a job's log records, and its progress
//	stats, statsidx         hash of counts per minute, and the minutes held
//	r:<id>, recs, rnext     a recurring definition, all IDs, the unpaused by next run
//	workers, hb             hash of worker descriptions, sorted set of heartbeats
//	l:<key>                 string: a lock's owner
//	wake                    the channel of wake-ups (a topic bit mask)
//	lim, lrun, ltat, ltatc  flow control: the limits, the leased jobs per
//	pq, g:…, gr:…, gm:…     counter and the GCRA times (with the pruner's
//	                        cursor over them); the queues served by
//	                        partition, their partitions' sets and rings (see
//	                        lua/limitlib.lua)
//
// The fields of a job's hash (see appendJobs and decodeJob in jobs.go, and
// lua/lib.lua): t task, a args, q queue, p priority, s state, ra run at, n
// attempt, x expire at, pa parent, b batch, k unique key, ku unique until,
// on continuation condition, pk partition key (always present), ar "1"
// when a continuation's args are its parent's result, qs enqueue sequence,
// l lease ("token SEP
// expiry SEP owner"), aw "1" when jobs await it, h1..hN the history
// ("state SEP at SEP reason SEP data", state and time short: see
// entryTime in codec.go), whose last entry is the current
// state and whose first entry's time is the creation time, hn its length
// (absent: 1), p:<name> parameters. Times are Unix microseconds; values over
// 64 bytes are cut into pieces name, name#2, ... (appendValue); fields a
// state no longer needs are set to "".
type keys struct{ prefix string }

func (k keys) job(id uuid.UUID) string          { return k.prefix + "j:" + id.String() }
func (k keys) seq() string                      { return k.prefix + "seq" }
func (k keys) paused() string                   { return k.prefix + "paused" }
func (k keys) batchMembers(id uuid.UUID) string { return k.prefix + "bm:" + id.String() }
func (k keys) batches() string                  { return k.prefix + "batches" }
func (k keys) log(id uuid.UUID) string          { return k.prefix + "log:" + id.String() }
func (k keys) progress(id uuid.UUID) string     { return k.prefix + "prog:" + id.String() }
func (k keys) stats() string                    { return k.prefix + "stats" }
func (k keys) statsIndex() string               { return k.prefix + "statsidx" }
func (k keys) recurring(id string) string       { return k.prefix + "r:" + id }
func (k keys) recurringIDs() string             { return k.prefix + "recs" }
func (k keys) recurringNext() string            { return k.prefix + "rnext" }
func (k keys) workers() string                  { return k.prefix + "workers" }
func (k keys) heartbeats() string               { return k.prefix + "hb" }
func (k keys) lock(key string) string           { return k.prefix + "l:" + key }
func (k keys) wake() string                     { return k.prefix + "wake" }
