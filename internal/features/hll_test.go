package features_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

// TestRebaseOntoSketch is the property the speed layer relies on: a batch state
// (exact spec, through an encode/decode round trip) converted with ToSpeed and
// merged with the speed fold of the events after the cutoff equals the speed fold of
// every event; and the speed vector equals the exact one but for the approximate
// features.
func TestRebaseOntoSketch(t *testing.T) {
	exact := fullSpec(t)
	speed := exact.Speed()
	approx := exact.Approximate()
	for seed := range uint64(propertyIterations) {
		r := rand.New(rand.NewPCG(seed, 9))
		log := randomLog(r, 1+r.IntN(300), 1+r.IntN(6), 0.15)
		c := r.IntN(len(log) + 1)
		batch, after := foldEvents(exact, log[:c]), foldEvents(speed, dropSeen(log[:c], log[c:]))
		allExact, allSpeed := foldEvents(exact, log), foldEvents(speed, log)
		for id, want := range allSpeed {
			got := speed.NewState()
			if b := batch[id]; b != nil {
				dec, err := exact.Decode(encode(t, b))
				if err != nil {
					t.Fatal(err)
				}
				got = dec.ToSpeed()
			}
			if a := after[id]; a != nil {
				if err := got.Merge(a); err != nil {
					t.Fatal(err)
				}
			}
			if !got.Equal(want) {
				t.Fatalf("seed %d cutoff %d entity %s: ToSpeed(batch) ⊕ speed differs from the speed fold of all", seed, c, id)
			}
			asOf := baseTime.Add(7 * 24 * time.Hour)
			gv, ev := got.Vector(asOf), allExact[id].Vector(asOf)
			for i := range gv {
				if !slices.Contains(approx, i) && math.Float32bits(gv[i]) != math.Float32bits(ev[i]) {
					t.Fatalf("seed %d entity %s: exact feature %d differs: %v vs %v", seed, id, i, gv[i], ev[i])
				}
			}
		}
	}
}

// TestSketchOfManyValues takes a sketch through sparse and dense with thousands of
// values: folded one by one, converted from the exact set, and merged from halves
// all give the same sketch, within 5σ of the exact count.
func TestSketchOfManyValues(t *testing.T) {
	spec := mustSpec(t, `{"features": [{"name": "items", "agg": "distinct", "attr": "item", "approximate": "hll"},
		{"name": "items_exact", "agg": "distinct", "attr": "item"}]}`)
	sigma := 1.04 / math.Sqrt(4096)
	for _, n := range []int{1, 10, 1000, 1024, 1025, 1100, 5000, 40000} {
		evs := make([]event.Event, n)
		for i := range evs {
			evs[i] = event.Event{EventID: fmt.Sprint(i), EntityID: "e", Type: "view", TS: baseTime, Attrs: map[string]string{"item": fmt.Sprint("item-", i)}}
		}
		folded := foldEvents(spec.Speed(), evs)["e"]
		converted := foldEvents(spec, evs)["e"].ToSpeed()
		merged := foldEvents(spec.Speed(), evs[:n/3])["e"]
		if merged == nil {
			merged = spec.Speed().NewState()
		}
		if err := merged.Merge(foldEvents(spec.Speed(), evs[n/3:])["e"]); err != nil {
			t.Fatal(err)
		}
		if !folded.Equal(converted) || !folded.Equal(merged) {
			t.Fatalf("%d values: folded, converted and merged sketches differ", n)
		}
		v := folded.Vector(baseTime)
		rel := math.Abs(float64(v[0])-float64(n)) / float64(n)
		t.Logf("%6d values: estimate %.1f (relative error %.3f%%), %d bytes encoded", n, v[0], 100*rel, len(encode(t, folded)))
		if v[1] != float32(n) || rel > 5*sigma {
			t.Errorf("%d values: estimate %v exact %v", n, v[0], v[1])
		}
	}
}

func TestSpeedVariant(t *testing.T) {
	def := features.DefaultSpec()
	if def.Speed() != def || len(def.Approximate()) != 0 {
		t.Error("a spec without approximate features is its own speed variant")
	}
	plain := mustSpec(t, `{"features": [{"name": "a", "agg": "distinct", "attr": "x"}, {"name": "b", "agg": "count"}]}`)
	hll := mustSpec(t, `{"features": [{"name": "a", "agg": "distinct", "attr": "x", "approximate": "hll"}, {"name": "b", "agg": "count"}]}`)
	p10 := mustSpec(t, `{"features": [{"name": "a", "agg": "distinct", "attr": "x", "approximate": "hll", "precision": 10}, {"name": "b", "agg": "count"}]}`)
	if hll.Fingerprint() != plain.Fingerprint() {
		t.Error("approximate changed the exact spec's fingerprint: batch states would no longer decode")
	}
	fps := map[uint32]bool{plain.Fingerprint(): true, hll.Speed().Fingerprint(): true, p10.Speed().Fingerprint(): true}
	if len(fps) != 3 {
		t.Error("speed variants of other precisions share a fingerprint")
	}
	if hll.Speed().Speed() != hll.Speed() || !slices.Equal(hll.Approximate(), []int{0}) || !slices.Equal(hll.Speed().Approximate(), []int{0}) {
		t.Errorf("speed variant: approximate %v", hll.Approximate())
	}
	if !slices.Equal(hll.Speed().FeatureNames(), hll.FeatureNames()) {
		t.Error("speed variant has other features")
	}
}

// FuzzDecodeSpeedState is FuzzDecodeState under the speed variant of the full spec.
func FuzzDecodeSpeedState(f *testing.F) {
	fuzzDecode(f, fullSpec(f).Speed())
}
