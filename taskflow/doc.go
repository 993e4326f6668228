// Package taskflow runs background jobs for Go, typed end to end.
//
// # Tasks
//
// A task is a typed function registered under a stable name:
//
//	var SendEmail = taskflow.NewTask("send-email",
//		func(ctx context.Context, a EmailArgs) (Receipt, error) { ... })
//
// NewTask registers in the default registry and panics on a duplicate or
// invalid name; RegisterTask takes an explicit *Registry and returns the
// error. Args are encoded with the task's Codec (JSON by default) into the
// stored job, and a dispatcher built at declaration decodes them back into
// Args before calling the function; the Result is encoded the same way. A
// stored job refers to its task by name only.
//
// # Enqueueing
//
// Task.Enqueue and EnqueueMany use the default client (see Configure);
// Task.On(client) binds a task to an explicit Client. Options (Queue,
// Priority, Delay, RunAt, Param, Timeout, Unique, ...) given to NewTask are
// the task's defaults; options given to Enqueue win. Enqueue returns a
// *Handle whose Wait returns the typed Result once the job succeeds, or a
// *JobError once it has failed for good or was deleted.
//
// Continuations (Bound.ContinueWith, Then), batches (Bound.EnqueueBatch)
// and recurring jobs (Bound.AddRecurring) build on the same calls.
//
// # Workers
//
// NewWorker and Worker.Run run jobs from a store until the context is done,
// then stop gracefully. Delivery is at-least-once: a job runs again when its
// worker dies, loses its lease, or stops before the job finishes, so tasks
// should be idempotent. JobFromContext tells a task which job and attempt
// it runs for.
//
// # States and retries
//
// Every job moves through the states of package states, each change a
// compare-and-set in storage, recorded in the job's history
// (Client.Job). A failed attempt is a Failed candidate state that the retry
// policy (filters.DefaultRetry unless a task or worker sets another)
// replaces with Scheduled until the retries are spent. A task's error
// reaches the producer as data: a *JobError matches the errors registered
// with RegisterError and RegisterErrorType.
//
// # Filters
//
// Client, server, elect-state and apply-state filters (package filters)
// run globally (ClientOptions.Filters, WorkerOptions.Filters) and per task
// (WithFilters), in the order documented in package filters.
//
// # Testing
//
// memstore.New gives an isolated in-memory store; with a Registry of its
// own, each test runs in parallel without globals.
package taskflow
