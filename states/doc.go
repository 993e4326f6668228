// Package states defines the states a taskflow job moves through.
//
// [State] is a sealed interface: only the seven types in this package
// implement it. Each carries the data Hangfire records for that state, a
// free-text Reason; [Name.Finished] and [Name.Expires] say what a state
// means for the job's life.
//
//	                      ┌────────────┐
//	          create ───▶ │ Scheduled  │──── due ────┐
//	                      └────────────┘             ▼
//	┌──────────┐ parent  ┌────────────┐  fetch  ┌────────────┐
//	│ Awaiting │───────▶ │  Enqueued  │───────▶ │ Processing │
//	└──────────┘ done    └────────────┘         └─────┬──────┘
//	                         ▲   ▲  lease lost /      │
//	                         │   └── shutdown ────────┤
//	                 requeue │                        ├──▶ Succeeded (expires)
//	                         │      retry (Scheduled) │
//	                     ┌───┴────┐ ◀─────────────────┤
//	                     │ Failed │ ◀─ attempts spent ┘
//	                     └────────┘          any ──▶ Deleted (expires)
//
// Succeeded, Failed and Deleted are finished: the job runs no more unless a
// person requeues it. Succeeded and Deleted jobs expire after a retention
// period; a Failed job stays until a person requeues or deletes it.
//
// States round-trip through JSON with [Marshal] and [Unmarshal]; storage keeps
// the state name and the JSON data side by side, so the stored form is stable
// across releases and readable from SQL or redis-cli.
package states
