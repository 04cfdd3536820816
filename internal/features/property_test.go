package features_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

const propertyIterations = 2000

// TestBatchPlusSpeedEqualsAll is the Lambda property: for a random log in arrival
// order (out-of-order event times, re-sent duplicates) and a random cutoff by arrival
// position (a Kafka offset), merge(fold(≤C), fold(>C)) == fold(all) for every entity,
// as states, as encodings and as vectors at random as_of times. Both halves go
// through an encode/decode round trip, as they do between the layers. The speed half
// drops events whose event_id the batch half holds, the duplicate contract of the
// package doc.
func TestBatchPlusSpeedEqualsAll(t *testing.T) {
	for name, spec := range specs(t) {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(propertyIterations) {
				r := rand.New(rand.NewPCG(seed, 1))
				log := randomLog(r, 1+r.IntN(300), 1+r.IntN(6), 0.15)
				c := r.IntN(len(log) + 1)
				batchIn, speedIn := log[:c], dropSeen(log[:c], log[c:])
				all := foldEvents(spec, log)
				batch, speed := foldEvents(spec, batchIn), foldEvents(spec, speedIn)
				for id, want := range all {
					got := spec.NewState()
					for _, part := range []*features.State{batch[id], speed[id]} {
						if part == nil {
							continue
						}
						dec, err := spec.Decode(encode(t, part))
						if err != nil {
							t.Fatalf("seed %d: decode: %v", seed, err)
						}
						if err := got.Merge(dec); err != nil {
							t.Fatal(err)
						}
					}
					if !got.Equal(want) {
						t.Fatalf("seed %d cutoff %d entity %s: merged state differs from fold(all)", seed, c, id)
					}
					if !bytes.Equal(encode(t, got), encode(t, want)) {
						t.Fatalf("seed %d entity %s: encodings differ", seed, id)
					}
					for _, asOf := range randomAsOfs(r, want) {
						if g, w := got.Vector(asOf), want.Vector(asOf); !sameVector(g, w) {
							t.Fatalf("seed %d entity %s as of %s:\n got %v\nwant %v", seed, id, asOf, g, w)
						}
					}
				}
				if len(batch)+len(speed) < len(all) {
					t.Fatalf("seed %d: entities lost", seed)
				}
			}
		})
	}
}

// dropSeen returns the events of after whose event_id is not in before (ids are
// unique per entity in randomLog).
func dropSeen(before, after []event.Event) []event.Event {
	seen := map[string]bool{}
	for _, e := range before {
		if e.EventID != "" {
			seen[e.EventID] = true
		}
	}
	var out []event.Event
	for _, e := range after {
		if e.EventID == "" || !seen[e.EventID] {
			out = append(out, e)
		}
	}
	return out
}

// randomAsOfs returns as_of times at, after and (for unwindowed aggregates) before
// the state's newest event.
func randomAsOfs(r *rand.Rand, st *features.State) []time.Time {
	newest, ok := st.Newest()
	if !ok {
		newest = baseTime
	}
	return []time.Time{
		newest,
		newest.Add(time.Duration(r.Int64N(int64(48 * time.Hour)))),
		newest.Add(-time.Duration(r.Int64N(int64(48 * time.Hour)))),
		baseTime.Add(7 * 24 * time.Hour),
	}
}

// TestMonoidLaws checks identity, commutativity and associativity of Merge on
// random states (several entities' logs folded as one entity), and that Merge leaves
// its argument unchanged.
func TestMonoidLaws(t *testing.T) {
	for name, spec := range specs(t) {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(propertyIterations) {
				r := rand.New(rand.NewPCG(seed, 2))
				a, b, c := randomState(r, spec), randomState(r, spec), randomState(r, spec)
				merge := func(x, y *features.State) *features.State {
					out := x.Clone()
					yBefore := encode(t, y)
					if err := out.Merge(y); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(yBefore, encode(t, y)) {
						t.Fatalf("seed %d: Merge changed its argument", seed)
					}
					return out
				}
				id := spec.NewState()
				if !merge(a, id).Equal(a) || !merge(id, a).Equal(a) {
					t.Fatalf("seed %d: identity law", seed)
				}
				if !merge(a, b).Equal(merge(b, a)) {
					t.Fatalf("seed %d: commutativity", seed)
				}
				if !merge(merge(a, b), c).Equal(merge(a, merge(b, c))) {
					t.Fatalf("seed %d: associativity", seed)
				}
				if !merge(a, a).Equal(merge(a, a.Clone())) {
					t.Fatalf("seed %d: clone", seed)
				}
			}
		})
	}
}

// TestEncodeRoundTrip checks decode(encode(s)) == s and that re-encoding gives the
// same bytes.
func TestEncodeRoundTrip(t *testing.T) {
	for name, spec := range specs(t) {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(propertyIterations) {
				r := rand.New(rand.NewPCG(seed, 3))
				st := randomState(r, spec)
				b := encode(t, st)
				got, err := spec.Decode(b)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if !got.Equal(st) || !bytes.Equal(encode(t, got), b) {
					t.Fatalf("seed %d: round trip differs", seed)
				}
			}
		})
	}
}

// randomState folds a random log as if it were all one entity's.
func randomState(r *rand.Rand, spec *features.Spec) *features.State {
	if r.IntN(10) == 0 {
		return spec.NewState()
	}
	log := randomLog(r, r.IntN(200), 1, 0.1)
	for i := range log {
		log[i].EventID = log[i].EventID + "-" + string(rune('a'+r.IntN(3)))
	}
	st := foldEvents(spec, log)["user-0"]
	if st == nil {
		return spec.NewState()
	}
	return st.Clone()
}

// TestAdderEqualsFoldAndMerge checks that adding events straight into a state (the
// speed layer's deltas) gives that state merged with the events' fold, in every spec,
// also when one event goes into two states at once.
func TestAdderEqualsFoldAndMerge(t *testing.T) {
	for name, spec := range specs(t) {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(propertyIterations) {
				r := rand.New(rand.NewPCG(seed, 5))
				base, other := randomState(r, spec), randomState(r, spec)
				log := randomLog(r, 1+r.IntN(60), 1, 0) // one entity, no duplicates
				want, wantOther := base.Clone(), other.Clone()
				for _, st := range foldEvents(spec, log) {
					if err := want.Merge(st); err != nil {
						t.Fatal(err)
					}
					if err := wantOther.Merge(st); err != nil {
						t.Fatal(err)
					}
				}
				a := spec.NewAdder()
				for i := range log {
					a.Add(&log[i], base, other)
				}
				base.Settle()
				other.Settle()
				if !base.Equal(want) || !other.Equal(wantOther) {
					t.Fatalf("seed %d: %d events added differ from their fold merged", seed, len(log))
				}
			}
		})
	}
}
