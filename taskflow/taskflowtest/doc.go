// Package taskflowtest helps test code that uses taskflow, without a
// database, a running worker or real waiting.
//
// # Harness
//
// [New] returns a [Harness]: an in-memory store, a client and a worker
// that all read one fake [Clock]. Nothing runs in the background: the
// test decides when time passes and when jobs run.
//
//   - [Harness.Drain] runs every job that is due now, one at a time in the
//     calling goroutine, in the order the store serves them, including the
//     continuations and the retries with no delay that those jobs cause,
//     until none is due. It returns what ran and how each run ended. A
//     retry scheduled later (the default retry policy waits at least 15
//     seconds) stays Scheduled: Drain does not move the clock.
//   - [Harness.Advance] moves the clock and does the upkeep a worker does
//     when time passes: due Scheduled jobs and retries are promoted,
//     recurring jobs fire, jobs whose lease expired return to their queue.
//     It runs no job; Drain then runs what became due.
//   - [Harness.RunFor] lets a span of time pass as it would with a worker
//     running throughout: it moves the clock from one due time to the
//     next, draining at each, so every retry and every recurring
//     occurrence in the span runs, at its time.
//
// Each job runs through the worker's own steps ([taskflow.Worker.RunNext]):
// filters, timeout, panic recovery, retry policy, state election, and the
// continuations its outcome releases. A job of a task missing from the
// registry, a panic or arguments that do not decode end as they would on a
// worker.
//
// # Assertions
//
// [RequireEnqueued] and [RequireEnqueuedN] check that jobs of a task were
// created with arguments matching a predicate, on the harness's store or
// on any store that lists jobs, including a PostgreSQL store bound to the
// caller's transaction (pgstore's WithTx), before it commits. A failure
// lists the jobs that were created instead.
//
// # One task
//
// [Work] runs one task's function as a worker would, with a job context
// (ID, attempt, parameters, taskflow.Logger, taskflow.SetProgress), and
// returns its typed result, error, logs and progress: the unit test of the
// task itself.
//
// Every function that can fail takes a [TB], which *testing.T implements,
// and reports failures through it; the package imports no test framework.
package taskflowtest
