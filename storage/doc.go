// Package storage defines the contract that taskflow backends implement.
// Most code should use package taskflow; users hand a [Store] to
// taskflow.NewClient or taskflow.NewWorker and never call its methods.
//
// # Shape
//
// The contract speaks in jobs and batches, so that each backend can do each
// operation in one round trip: create many jobs atomically, fetch-and-lease
// up to N jobs, transition many jobs with compare-and-set, extend every lease
// a worker holds in one call. [Store] is the small required core: jobs,
// leases and transitions. Everything else is an optional capability, an
// interface discovered at run time, as database/sql/driver does.
//
// # Capabilities
//
// This is the one list of them; the README and docs/ARCHITECTURE.md link
// here. taskflow never asks a store for a capability it lacks: the call that
// needs it returns an error wrapping [ErrNotSupported] that names the
// interface ("the store implements no storage.Batches"). A store that
// implements only [Store] passes the required part of storagetest, whose
// other areas skip with a message.
//
//   - [UniqueKeys]: unique jobs (taskflow.Unique, UniqueByArgs).
//   - [Continuations]: Awaiting jobs resolved when their parent finishes.
//   - [Batches]: batches and their progress.
//   - [BatchLister]: the newest batches, for a dashboard.
//   - [Recurring]: durable cron definitions.
//   - [Locker]: named locks, for the mutex filter.
//   - [Workers]: the worker registry and its watchdog.
//   - [Queues]: queues paused durably.
//   - [Statistics]: outcome counts per minute, kept apart from the jobs.
//   - [JobLogs]: what tasks log, and their progress, kept with the job.
//   - [Notifier]: wake-ups instead of polling.
//   - [Peeker]: a job read without its history, for waiting handles.
//   - [Lister]: monitoring queries (list, count).
//   - [Estimator]: counts estimated where an exact count is too slow.
//   - [Pruner]: removal of expired final jobs and statistics.
//   - [TxBound]: stores bound to a caller's transaction.
//   - [FlowControl]: concurrency and rate limits, and partitions served
//     round robin, enforced by Fetch (its guarantees are in its own
//     documentation).
//   - [HeldCounter]: the Enqueued jobs that full limits hold back, per
//     queue; every store with [FlowControl] implements it.
//
// pgstore and sqlitestore implement every one ([TxBound] through WithTx);
// memstore and redisstore every one but [Estimator] and [TxBound].
//
// # Guarantees
//
// Each guarantee below is a MUST for every implementation and a test in
// package storagetest, which every backend runs.
//
//   - Every method MUST be safe for concurrent use and MUST return promptly
//     with ctx's error when ctx is done.
//   - A store MUST NOT keep the params structs or slices it is given after a
//     call returns (callers reuse them); it may keep the byte slices (Args,
//     state data), which no one modifies once handed over.
//   - Create MUST store all of its jobs or none of them.
//   - Fetch MUST lease each returned job to exactly one caller: while a lease
//     is valid no other Fetch returns that job.
//   - Fetch MUST serve queues in the order given, and within a queue higher
//     Priority first, then first-enqueued first.
//   - Every lease MUST carry a fencing token that grows each time the job is
//     leased and is never handed out twice for one job, not even after the
//     backend restarts or fails over and loses its last writes; a
//     transition that names a token MUST fail with [ErrLeaseLost] unless
//     the job is Processing under that very token, and held by the
//     transition's Owner when it names one.
//   - Transition MUST be a compare-and-set: a change whose expected state no
//     longer holds MUST change nothing and report [ErrStateConflict].
//   - Every state change MUST append to the job's history, in order.
//   - Transitions passed in one call MUST be applied in one atomic step; with
//     AllOrNothing set, one failing change MUST leave every job unchanged.
//   - ReclaimExpired MUST make every job whose lease has expired fetchable
//     again (Enqueued) and MUST invalidate its old token.
//   - With [UniqueKeys], no two jobs MUST hold one UniqueKey at once;
//     Create MUST return the holder's ID for a job whose key is held, and
//     store it not.
//   - With [Continuations] (and [Batches], for a batch), when a job or a
//     whole batch finishes (Succeeded, Failed or Deleted), the jobs Awaiting
//     it MUST be resolved in the same atomic step, and an Awaiting job
//     created after its parent finished MUST be resolved by Create. A job
//     resolved to Enqueued whose Awaiting state has ArgsFromResult, and
//     whose parent is a job that Succeeded, MUST get the parent's result
//     (states.Succeeded.Result, byte for byte) as its Args in that step.
//   - A batch is the jobs stored with its BatchID: a job held back by its
//     unique key is not one of them. A batch whose every job was held back
//     does not exist: Create MUST fail an Awaiting job of it with
//     [ErrNotFound] (in the call that held its jobs back or a later one),
//     and the store MUST keep nothing of it.
//   - FireRecurring MUST fire each occurrence at most once: it creates jobs
//     only when the stored next run equals the expected one.
//   - RemoveDeadWorkers MUST return the dead workers' jobs to Enqueued.
//   - A [Notifier] MUST wake a subscriber once a change of a topic it
//     subscribed to is stored, and SHOULD NOT wake it for other topics.
//
// Delivery is at-least-once: a job whose worker dies is run again after its
// lease expires, so tasks should be idempotent.
//
// # Time
//
// Methods that depend on time take a Now field; a zero Now means the
// backend's own clock (for a database, the server's clock).
//
// # Errors
//
// Backends translate driver errors into the sentinels of this package
// ([ErrNotFound], [ErrStateConflict], [ErrLeaseLost], [ErrDuplicate],
// [ErrNotSupported]); callers check them with errors.Is. No
// driver type appears in a signature here.
//
// # Stability
//
// Before v1 the interfaces here may change in any release. From v1 on no
// method will be added to [Store]; new abilities arrive as new optional
// interfaces.
package storage
