// Package delta holds the speed layer's state for one Kafka partition: every event
// after the published batch run's cutoff offset, folded per entity with the shared
// feature folds (package features), and merged onto each entity's batch base state.
// It folds with the spec's speed variant (features.Spec.Speed), so an approximate
// feature keeps a sketch, and turns each exact base state into that variant
// (features.State.ToSpeed) before merging onto it.
//
// A Partition covers the offsets (cutoff, Pos()] of its partition under one batch run.
// Apply folds records in offset order and skips every record at or below Pos(), so a
// replay of the log (a consumer restart, a rebuild) folds each offset once.
//
// # Entities
//
// An Entity keeps two states: Delta, the fold of its events in the partition's range,
// and Full = base ⊕ Delta, once SetBase has attached the state the batch run
// published for it (the identity if the run has none). Full is kept up to date by
// merging each micro-batch's fold into it, so the base, which a published run never
// changes, is read from the batch view once per entity and run.
//
// # Duplicates
//
// An (entity_id, event_id) pair is folded once per Partition, across micro-batches:
// later records with the same pair (producer retries under a new offset) are skipped
// by the fold but still advance the entity's coverage. The set keeps a 128-bit key
// per pair, built from independently seeded 64-bit hashes of both ids (in memory
// only); a false duplicate needs two pairs to collide in both halves, probability
// about n²/2¹²⁹ for n events. Prime adds pairs the
// batch run already folded, so that a copy after the cutoff of an event before it
// is skipped too (see the features package doc on duplicates).
//
// # Coverage and as_of
//
// An entity's Covered offset is the offset of its last record applied. Its AsOf is
// the partition's event-time watermark at that record: the newest event time among
// the valid records of the partition in (cutoff, Covered], and at least the batch
// run's as_of (its newest event time). It depends only on the log and the run, not on
// how records were grouped into micro-batches, so a replay yields the same rows; and
// it is never before the entity's newest event, as vectors require.
package delta
