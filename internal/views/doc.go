// Package views is where the layers meet the views they do not write: the reads of the
// batch view (ClickHouse batch_view, written by the batch layer) and of the speed view
// (PostgreSQL speed_view, written by the speed layer), each written once here.
//
// # Batch view
//
// Batch reads a run's rows in bulk through chstream, column blocks rather than
// clickhouse-go's row API: the serving layer loads a whole published run into its
// random-read store, the batch layer exports one, and the speed layer reads the
// feature states of the entities it folds (States). A retried write of a run leaves
// several copies of an entity's row until ClickHouse merges them away; every read
// here returns each entity once, the newest written copy (the query orders copies by
// written_at, newest first, and the reader passes the first of each entity on).
//
// # Speed view
//
// Speed reads speed_view rows by entity id with one PostgreSQL query.
package views
