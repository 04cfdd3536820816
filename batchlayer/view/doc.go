// Package view writes and reads the batch view, the ClickHouse table batch_view: one
// row per entity per batch run, partitioned by run_id.
//
// A Writer collects a run's rows as columns and inserts them with one column-oriented
// INSERT per FlushRows rows. Rows become visible to readers only when the run is
// published in PostgreSQL (package runs); until then, and forever for a run that
// failed, they sit in the run's own partition, which DropRun removes with one cheap
// ALTER TABLE ... DROP PARTITION. Partitions lists the runs that have rows, for
// retention to drop whatever is neither published nor running.
//
// The reads of the view, which the other layers need too, are package internal/views.
package view
