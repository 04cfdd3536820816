// Package features holds the feature definitions both layers share: the batch layer
// folds every event up to a cutoff, the speed layer folds the events after it and
// merges onto the batch state, and both produce model input rows with the same code.
//
// # Spec
//
// A Spec is compiled from a JSON Definition (LoadSpec, ParseSpec; DefaultSpec is the
// built-in demo spec in default_spec.json). Each feature has a name, an aggregation
// (count, sum, mean, min, max, last, distinct, recency), an optional filter on the
// event type (one or a list), an attr for distinct, and for count, sum and mean an
// optional event-time window. Types in the spec's exclude_types (the demo excludes
// "label", the training target) are dropped before anything else and never reach a
// feature.
//
// # Monoid
//
// A State is one entity's aggregates: Spec.NewState is the identity, State.Merge is
// associative and commutative, and merges are exact for every aggregate, so
//
//	fold(events ≤ C) ⊕ fold(events > C) == fold(all events)
//
// for any cutoff C in arrival order (late events after C may have older event times),
// which the package's property test checks as states and as vectors. States encode
// to a compact versioned binary form (AppendBinary, Spec.Decode) for ClickHouse String
// and PostgreSQL bytea columns, tagged with Spec.Fingerprint.
//
// Aggregate details:
//   - Event time is the event's ts at microsecond precision; arrival order does not
//     matter, so late and out-of-order events fold correctly.
//   - count counts matching events; sum, mean, min, max and last read the value of
//     matching events that have one, and ignore non-finite values; -0 is folded as 0.
//   - sum and mean are exact fixed-point: each value is rounded to micro-units (1e-6)
//     when folded and the integers are summed in 128 bits, so merges are bit-exact;
//     the error against the real-valued sum is at most 5e-7 per value.
//   - last is the value of the newest matching event by event time; ties go to the
//     greater xxhash64 of the event_id, then to the greater value.
//   - distinct keeps the set of xxhash64 hashes of the attr's values: merges are
//     exact unions; the count undercounts only on a 64-bit hash collision
//     (probability about k²/2^65 for k values).
//   - recency is the seconds from the newest matching event to as_of, at least 0.
//   - mean, min, max, last and recency are undefined until something matched and
//     then emit the feature's default (0 unless set).
//
// # Windows and as_of
//
// Windowed features keep per-bucket counts and sums in event-time buckets of the
// spec's width B (bucket b holds event times [b·B, (b+1)·B), unix time). A window of
// W = k·B as of T covers the k buckets ending with T's bucket: the events with
// ⌊ts/B⌋ in (⌊T/B⌋−k, ⌊T/B⌋], that is event times from ⌊T/B⌋·B − (k−1)·B up to the end
// of T's bucket. For T at a bucket boundary that is exactly (T−W, T]; otherwise the
// window reaches back between W−B and W before T.
//
// Vectors are always taken at an explicit as_of (State.Vector, State.AppendVector).
// Use the newest event time of the whole log the view covers (the same as_of for every
// entity of a batch run or serving answer), not the entity's own newest event: then
// recency and windows say how long an entity has been quiet. as_of must not be before
// the state's newest event: unwindowed aggregates always include every folded event,
// and window buckets are pruned relative to the state's newest event time (a bucket
// at or below ⌊newest/B⌋−k can be read by no as_of ≥ newest). Pruning happens after
// every fold and merge using that state's newest time, which is why it commutes with
// merge: a merged state's newest is at least each part's.
//
// # Duplicates
//
// A Folder or Stream folds an (entity_id, event_id) once: later events with the same
// pair in the same fold input are skipped, the first in input order wins (events with
// an empty event_id are never treated as duplicates). Duplicates in different inputs
// cannot be seen by the monoid; merging counts both. The layers must therefore:
//   - cut batch and speed inputs by Kafka offset (per partition), not by time: a
//     redelivered record (consumer replay, the archiver inserting the same records
//     into ClickHouse again) keeps its offset, so all its copies fall on one side of
//     the cutoff and are folded once there; the speed layer also keeps the offsets
//     its delta covers and skips records at or below them when it replays;
//   - drop, in the speed layer, an event whose event_id the batch input already
//     contains when it was re-sent under a new offset (for example by checking the
//     ids the archiver wrote within a dedup horizon); otherwise it is counted twice
//     until the next batch run, which folds both copies in one input.
//
// # Folding
//
// Folder folds events of any entities in any order (the speed layer); Stream folds
// input sorted by entity_id and emits each entity's state when its rows end (the
// batch layer). Both take event.Event values or Arrow records of EventSchema; the
// Arrow path reads columns in place and does no per-row allocation or map lookup.
package features
