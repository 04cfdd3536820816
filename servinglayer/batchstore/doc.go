// Package batchstore is the serving layer's random-read store of a published batch
// view: a run's rows, bulk-loaded from ClickHouse in one streaming read, held in the
// process's memory and answered from there. ClickHouse is a column store built for
// scans; its point queries cost milliseconds and queue under load, so no request ever
// waits on one. This is the Lambda architecture's serving database (Marz's
// ElephantDB, Druid's historicals): loaded in bulk from the batch output, read-only,
// and only made live — by the caller, swapping one *Store for another — once complete.
//
// # Layout
//
// A Store holds nothing the garbage collector traces: entity ids in one byte arena,
// each column of the rows (partition, covered offset, last event time, score, vector)
// in a slice of numbers, and an open-addressing hash table of row numbers keyed by a
// 64-bit hash of the id, at most half full. What is the same for the whole run (the
// run, as_of, the model) is stored once. With the demo's 15 features a row costs
// about 110 bytes plus its id: a million entities take about 125 MB, and a lookup is
// one hash, one or two probes and an id comparison, with no allocation.
package batchstore
