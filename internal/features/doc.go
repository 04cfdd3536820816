// Package features holds the feature definitions both layers share: the batch layer
// folds every event up to a cutoff, the speed layer folds the events after it and
// merges onto the batch state, and both produce model input rows with the same code.
//
// # Spec
//
// A Spec is compiled from a JSON Definition (LoadSpec, ParseSpec; DefaultSpec is the
// built-in demo spec in default_spec.json). Each feature has a name, an aggregation
// (count, sum, mean, min, max, last, distinct, recency), an optional filter on the
// event type (one or a list), an attr for distinct (which the speed layer may
// approximate), and for count, sum and mean an optional event-time window. Types in the spec's exclude_types (the demo excludes
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
//     (probability about k²/2^65 for k values), or, in the speed layer only, is a
//     HyperLogLog estimate (see Approximate distinct counts).
//   - recency is the seconds from the newest matching event to as_of, at least 0.
//   - mean, min, max, last and recency are undefined until something matched and
//     then emit the feature's default (0 unless set).
//
// # Approximate distinct counts
//
// A distinct feature may declare "approximate": "hll" (optional "precision" p, 4 to
// 16, default 12): the batch layer still counts exactly, while the speed layer folds
// with Spec.Speed, which keeps a HyperLogLog sketch of the values' xxhash64 hashes
// instead of the set — bounded memory and cheap merges for high-cardinality attrs, at
// the price of an approximate answer until the next batch run. The speed layer turns
// each batch base into the speed variant with State.ToSpeed, which gives the same
// sketch as folding the same values, so base ⊕ delta is still the sketch of every
// value; the exact spec's fingerprint and state encoding do not change. Its
// divergence from the next batch answer is exported by the speed layer
// (lambda_speed_approx_relative_error).
//
// A sketch is sparse while it holds at most 2^p/4 registers: the sorted
// (register, rho) pairs at precision 25 (HLL++'s sparse representation), 4 bytes
// each, estimated by linear counting over the 2^25 registers. It then turns dense,
// 2^p one-byte registers estimated with Ertl's improved estimator (2017), which needs
// no empirical bias correction. The stated bound, for relative error
// |approx − exact| / max(exact, 1) against the exact count of the same values:
//   - sparse (up to about 2^p/4 values, 1,024 at p = 12): off by at most 2 values;
//     a sketch is off by k only when k pairs of its values share one of the 2^25
//     registers, which for n ≤ 1,024 values has probability below (n²/2^26)^k / k!
//     (k = 3: 6e-7);
//   - dense: with σ = 1.04/√(2^p) (1.625% at p = 12), mean relative error ≤ σ, at
//     least 99% of entities within 3σ, none beyond 5σ.
//
// Measured at p = 12 on 100,000 entities (TestHLLDivergence): 75,000 sparse sketches
// with 1 to 1,000 values were off by at most 1 value (mean relative error 0.0004%);
// 25,000 dense ones with 1,100 to 20,000 values had mean 1.01%, p99 3.27%, max 5.26%,
// 3 beyond 3σ and none beyond 5σ.
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
// Folder folds events of any entities in any order; Stream folds input sorted by
// entity_id and emits each entity's state when its rows end (the batch layer, which
// passes each chunk as one Arrow record and the order of its rows, AddRows). Both take
// event.Event values or Arrow records of EventSchema; the Arrow path reads columns in
// place and does no per-row allocation or map lookup. An Adder folds one event into
// states the caller keeps, with no duplicate check (the speed layer, which checks
// duplicates itself, folds each event into its entity's delta and merged state).
package features
