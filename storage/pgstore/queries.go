package pgstore

import (
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/states"
)

// queries holds the SQL of a store, its schema name filled in. Rows are
// always reached through the primary key or one of the partial indexes of
// migrations/: an UPDATE that filters on state, or joins a batch
// by id = ANY, can be planned as a scan per row or of the whole table when
// statistics are stale, which cost 10-100x in measurements.
type queries struct {
	version, check, notify, create, fetch, fetchRange, transition, transitionPlain, extend, checkLeases, promote, reclaim,
	get, history, list, listAll, count, prune, pruneStats, stats, pauseQueue, listQueues,
	appendLogs, setProgress, jobLogs, jobProgress, estimate, estimateInQueue string
	countState  map[states.Name]string
	lim         limitQueries // flow control (limits.go)
	held        string       // the jobs full limits hold back (held.go)
	heldRunning string       // the leased jobs per queue, task and partition (held.go)
	// Continuations, batches and unique keys (flow.go).
	createUnique, releaseStale, holders, await, lockBatches, resolve, batchProgress, listBatches string
	// Recurring definitions, locks and the worker registry (flow.go).
	upsertRecurring, removeRecurring, getRecurring, listRecurring, dueRecurring, nextRecurring,
	fire, setLastJob, pauseRecurring, tryLock, unlock, heartbeat, listWorkers, removeWorker, removeDead string
	// Failed jobs kept apart (kept.go).
	lockJobs, unkeep string
}

// servedQueues is the fetch's queue list, from the rows of list (q0),
// less the paused queues, filtered before any job row is locked.
func servedQueues(list string) string {
	return `(SELECT * FROM ` + list + `
		WHERE NOT EXISTS (SELECT 1 FROM {s}.queues pq WHERE pq.name = q0.name AND pq.paused)) q`
}

// jobRow is the columns of a job row that jobCols reads.
const jobRow = `j.id, j.task, j.args, j.queue, j.priority, j.state, j.state_data, j.run_at, j.attempt,
	j.created_at, j.updated_at, j.expire_at, j.params, j.lease_owner, j.lease_token, j.lease_until,
	j.parent_id, j.batch_id, j.unique_key, j.unique_until, j.partition_key`

// jobCols is the column list that scanJob reads.
const jobCols = `id, task, args, queue, priority, state, state_data, run_at, attempt, created_at,
	updated_at, expire_at, params, coalesce(lease_owner, ''), coalesce(lease_token, 0), lease_until,
	parent_id, batch_id, coalesce(unique_key, ''), unique_until, coalesce(partition_key, '')`

// lostLeases lists the leases of t (id, token) that owner $3 no longer
// holds, with the state each job is in now (an empty string for a job that is gone).
const lostLeases = `
SELECT t.id, coalesce(j.state, (SELECT k.state FROM {s}.jobs_kept k WHERE k.id = t.id), '') FROM t LEFT JOIN {s}.jobs j ON j.id = t.id
WHERE j.id IS NULL OR j.lease_token IS DISTINCT FROM t.token OR j.lease_owner IS DISTINCT FROM $3`

// clock is the time of a call: the caller's Now, else the server's clock.
const clock = `coalesce($1::timestamptz, now())`

// enqueuedData builds states.Enqueued JSON with the given reason for the
// store-initiated moves (promotion, reclaim, resolved continuations), which
// happen per row on the server.
func enqueuedData(reason string) string {
	return `json_build_object('queue', j.queue, 'enqueued_at', ` + clock + `, 'reason', ` + reason + `)`
}

// requeue is the SET list that moves a leased job back to Enqueued.
func requeue(reason string) string {
	return toEnqueued(reason) + `, lease_owner = NULL, lease_token = NULL, lease_until = NULL`
}

// toEnqueued is the SET list that makes a job Enqueued for the given reason.
func toEnqueued(reason string) string {
	return `state = 'enqueued', state_data = ` + enqueuedData(reason) + `, state_reason = ` + reason + `,
		updated_at = ` + clock + `, enqueued_seq = nextval('{sl}.enqueue_seq')`
}

// oldCols are the columns that a CTE named old reads from the rows a
// statement locks: the state each job leaves, for its history.
const oldCols = `id, state, state_reason, state_data, updated_at`

// leaveHistory is a CTE named h that appends to the history the state each
// job of old leaves. Rows locked by old are updated by the statement unless
// a condition re-checked on them excludes them; where is that condition,
// true when none. (Joining old to the updated rows instead is planned as a
// nested loop: CTE row counts are estimated at one.)
func leaveHistory(where string) string {
	return `h AS (
	INSERT INTO {s}.job_history (job_id, state, reason, data, at)
	SELECT id, state, coalesce(state_reason, ''), state_data, updated_at FROM old WHERE ` + where + `
)`
}

// moveToEnqueued is the shared tail of the statements that lock rows in a
// CTE named old and move them all to Enqueued in a CTE named moved; $1 is
// Now.
var moveToEnqueued = `
	WHERE j.id = ANY(ARRAY(SELECT id FROM old))
	RETURNING j.id
), ` + leaveHistory("true")

// finished lists the states in which a job has finished (states.Name.Finished).
const finished = `('succeeded', 'failed', 'deleted')`

func buildQueries(schema string) queries {
	quoted := pgx.Identifier{schema}.Sanitize()
	r := strings.NewReplacer("{s}", quoted, "{sl}", strings.ReplaceAll(quoted, "'", "''"))
	return queries{
		version:      r.Replace(versionSQL),
		check:        r.Replace(checkSQL),
		notify:       `SELECT pg_notify($1, $2)`,
		create:       r.Replace(strings.ReplaceAll(createSQL, "{conflict}", "")),
		createUnique: r.Replace(strings.ReplaceAll(createSQL, "{conflict}", "\nON CONFLICT (unique_key) WHERE unique_held DO NOTHING RETURNING id")),
		fetch:        r.Replace(strings.NewReplacer("{queues}", servedQueues("unnest($5::text[]) WITH ORDINALITY AS q0(name, ord)"), "{floor}", "").Replace(fetchSQL)),
		// fetchRange is fetch limited to a priority range per queue (floor
		// $6, ceiling $7), an index condition.
		fetchRange: r.Replace(strings.NewReplacer("{queues}", servedQueues("unnest($5::text[], $6::int4[], $7::int4[]) WITH ORDINALITY AS q0(name, floor, ceiling, ord)"),
			"{floor}", " AND priority BETWEEN q.floor AND q.ceiling").Replace(fetchSQL)),
		transition:      r.Replace(strings.ReplaceAll(transitionSQL, "{history}", transitionHistory)),
		transitionPlain: r.Replace(strings.ReplaceAll(transitionSQL, "{history}", plainHistory)),
		extend:          r.Replace(extendSQL),
		checkLeases:     r.Replace(checkLeasesSQL),
		promote:         r.Replace(promoteSQL),
		reclaim:         r.Replace(reclaimSQL),
		get:             r.Replace(getSQL),
		history:         r.Replace(historySQL),
		list:            r.Replace(listSQL),
		listAll:         r.Replace(listAllSQL),
		lockJobs:        r.Replace(lockJobsSQL),
		unkeep:          r.Replace(unkeepSQL),
		estimate:        r.Replace(estimateSQL),
		estimateInQueue: r.Replace(estimateInQueueSQL),
		countState:      replaceAll(r, countStateSQL),
		count:           r.Replace(countSQL),
		prune:           r.Replace(pruneSQL),
		releaseStale:    r.Replace(releaseStaleSQL),
		holders:         r.Replace(holdersSQL),
		await:           r.Replace(awaitSQL),
		lockBatches:     r.Replace(lockBatchesSQL),
		resolve:         r.Replace(resolveSQL),
		batchProgress:   r.Replace(batchProgressSQL),
		listBatches:     r.Replace(listBatchesSQL),
		upsertRecurring: r.Replace(upsertRecurringSQL),
		removeRecurring: r.Replace(removeRecurringSQL),
		getRecurring:    r.Replace(getRecurringSQL),
		listRecurring:   r.Replace(listRecurringSQL),
		dueRecurring:    r.Replace(dueRecurringSQL),
		nextRecurring:   r.Replace(nextRecurringSQL),
		fire:            r.Replace(fireSQL),
		setLastJob:      r.Replace(setLastJobSQL),
		pauseRecurring:  r.Replace(pauseRecurringSQL),
		tryLock:         r.Replace(tryLockSQL),
		unlock:          r.Replace(unlockSQL),
		heartbeat:       r.Replace(heartbeatSQL),
		listWorkers:     r.Replace(listWorkersSQL),
		removeWorker:    r.Replace(removeWorkerSQL),
		removeDead:      r.Replace(removeDeadSQL),
		pauseQueue:      r.Replace(pauseQueueSQL),
		pruneStats:      r.Replace(pruneStatsSQL),
		stats:           r.Replace(statsSQL),
		appendLogs:      r.Replace(appendLogsSQL),
		setProgress:     r.Replace(setProgressSQL),
		jobLogs:         r.Replace(jobLogsSQL),
		jobProgress:     r.Replace(jobProgressSQL),
		listQueues:      r.Replace(listQueuesSQL),
		lim:             buildLimitQueries(r),
		held:            r.Replace(heldSQL),
		heldRunning:     r.Replace(heldRunningSQL),
	}
}

const sameSchedule = `(r.spec, r.time_zone) = (EXCLUDED.spec, EXCLUDED.time_zone)`

// recurringCols is the column list that scanRecurring reads.
const recurringCols = `id, task, args, spec, time_zone, queue, priority, misfire, paused, next_run, last_run,
	last_job_id, created_at, updated_at, params, unique_key, unique_for`

func replaceAll[K comparable](r *strings.Replacer, m map[K]string) map[K]string {
	out := make(map[K]string, len(m))
	for k, v := range m {
		out[k] = r.Replace(v)
	}
	return out
}
