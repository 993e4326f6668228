// Package states defines the states a taskflow job moves through.
//
// [State] is a sealed interface: only the seven types in this package
// implement it. Each carries the data Hangfire records for that state, a
// free-text Reason, and reports whether it is final.
//
//	                      ┌────────────┐
//	          create ───▶ │ Scheduled  │──── due ────┐
//	                      └────────────┘             ▼
//	┌──────────┐ parent  ┌────────────┐  fetch  ┌────────────┐
//	│ Awaiting │───────▶ │  Enqueued  │───────▶ │ Processing │
//	└──────────┘ done    └────────────┘         └─────┬──────┘
//	                         ▲   ▲  lease lost /      │
//	                         │   └── shutdown ────────┤
//	                 requeue │                        ├──▶ Succeeded (final, expires)
//	                         │      retry (Scheduled) │
//	                     ┌───┴────┐ ◀─────────────────┤
//	                     │ Failed │ ◀─ attempts spent ┘
//	                     └────────┘          any ──▶ Deleted (final, expires)
//
// Succeeded and Deleted are final: a job in one of them expires after a
// retention period. Failed is deliberately not final: a failed job stays
// until a person requeues or deletes it.
//
// States round-trip through JSON with [Marshal] and [Unmarshal]; storage keeps
// the state name and the JSON data side by side, so the stored form is stable
// across releases and readable from SQL or redis-cli.
package states
