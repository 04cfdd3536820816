// Package parquetio moves data between Parquet files and the batch layer: Import
// backfills the master dataset from a file of events, Export writes a batch run's view
// out.
//
// # Import
//
// The file's columns, found by name (order does not matter, other columns are an
// error, so a misspelt column is not silently dropped):
//
//	event_id   string, required
//	entity_id  string, required
//	type       string, required
//	ts         timestamp (any unit; a timezone, if any, is ignored: the instant counts), required
//	value      double or float, nullable, optional column (null: the event has no value)
//	attrs      map<string, string>, nullable, optional column
//
// Every row must be an event event.Validate accepts (the same rules as the JSON
// events on Kafka), with no null in the required columns or in attrs values. Import
// reads the file twice: it validates every row first, reporting the first invalid rows
// by row number and field, and writes nothing unless all rows are valid; then it
// appends the rows to the events table with column inserts of 100k rows.
//
// Imported rows did not come through Kafka. They are stored with kafka_partition -1
// (master.ImportPartition) and kafka_offset = an import sequence number: the highest
// one in the table plus one, onwards, taken under runs.LockImports, so numbers are
// unique and grow in insert order across imports. Every batch run includes all
// imported rows numbered up to the highest one present when its cutoff is taken
// (recorded as batch_runs.cutoff_imported_offset). Importing a file twice stores its
// rows twice; the feature folds count an (entity_id, event_id) once per entity, so
// the copies do not double-count.
//
// # Export
//
// Export writes every row of a run's batch view (once per entity, in entity order)
// with the columns run_id uint64, entity_id string, kafka_partition int32,
// covered_offset int64, last_event and as_of timestamp[µs, UTC], state binary,
// vector list<float>, score float, model_name string, model_version uint32 and
// written_at timestamp[ms, UTC], snappy-compressed.
package parquetio
