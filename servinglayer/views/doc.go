// Package views reads what the serving layer serves, with plain SQL: the speed view
// (PostgreSQL speed_view), the published batch run and the run registry (PostgreSQL
// batch_runs, through package runs), and the batch view (ClickHouse batch_view). It
// implements the interfaces of package predict and the serving layer's BatchRuns.
package views
