// Package replays is the registry of Kappa replays in the PostgreSQL table
// kappa_replays (migration 0007), and the tables of their views.
//
// # Life of a replay
//
//	replaying ──► ready ──► live ──► retired
//	    │           │  └─────────────► retired
//	    └───────────┴──► failed | stopped
//
// Create records a replay and creates its view, kappa_view_<id>, LIKE speed_view
// (without speed_view's change notifications, which nobody reads of a replay). A job (speedlayer/kappa) folds the
// log from offset 0 into it and reports Progress; once it has caught up with the head
// of the log, Ready marks it, or Switch makes it live at once when it was created with
// switch_when_ready. Switch retires the replay that was live in the same transaction:
// at most one replay is live, and readers answer from it. Release returns a live
// replay to ready (readers go back to the Lambda views); Stop ends a replay that is
// not live. Retired and stopped replays' views are dropped by DropView after a grace
// period, and recorded with Dropped.
//
// Every status change notifies ChangeChannel with the replay's id.
package replays
