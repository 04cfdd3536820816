package delta_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/speedlayer/delta"
)

// stream returns n demo records at offsets from first on, with some events sent
// again (same event_id) at later offsets.
func stream(n int, first int64, seed uint64) []delta.Record {
	g := demogen.New(demogen.Config{Entities: 50, Seed: int64(seed)})
	r := rand.New(rand.NewPCG(seed, 1))
	var evs []event.Event
	for range n {
		evs = append(evs, g.Next())
		if r.IntN(10) == 0 {
			evs = append(evs, evs[r.IntN(len(evs))])
		}
	}
	recs := make([]delta.Record, len(evs))
	for i, e := range evs {
		recs[i] = delta.Record{Offset: first + int64(i), Event: e}
	}
	return recs
}

// snapshot is what the tests compare of an entity.
type snapshot struct {
	covered int64
	asOf    time.Time
	delta   string
	full    string
}

func snapshots(t *testing.T, d *delta.Partition) map[string]snapshot {
	t.Helper()
	out := map[string]snapshot{}
	for e := range d.Entities() {
		if !e.HasBase() {
			if err := d.SetBase(e, nil); err != nil {
				t.Fatal(err)
			}
		}
		ds, _ := e.Delta().AppendBinary(nil)
		fs, _ := e.Full().AppendBinary(nil)
		out[e.ID()] = snapshot{e.Covered(), e.AsOf(), string(ds), string(fs)}
	}
	return out
}

func TestApplyDoesNotDependOnBatching(t *testing.T) {
	spec := features.DefaultSpec()
	recs := stream(3000, 100, 1)
	run := delta.Run{ID: 1, Cutoff: 99, AsOf: recs[0].Event.TS}
	whole := delta.New(spec, 0, run)
	whole.Apply(recs)
	want := snapshots(t, whole)
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 2))
		d := delta.New(spec, 0, run)
		for rest := recs; len(rest) > 0; {
			n := 1 + r.IntN(200)
			chunk := rest[:min(n, len(rest))]
			// Attach bases midway, as the consumer does for new entities.
			touched := d.Apply(chunk)
			for _, e := range touched {
				if !e.HasBase() && r.IntN(2) == 0 {
					if err := d.SetBase(e, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			rest = rest[len(chunk):]
		}
		got := snapshots(t, d)
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d entities, want %d", seed, len(got), len(want))
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("seed %d entity %s: %+v, want %+v", seed, id, got[id], w)
			}
		}
	}
}

func TestApplyMatchesFoldOfEventsAfterCutoff(t *testing.T) {
	spec := features.DefaultSpec()
	recs := stream(2000, 0, 3)
	const cutoff = 700
	// The base is the fold of everything up to the cutoff, as the batch run's.
	base := features.NewFolder(spec)
	all := features.NewFolder(spec)
	for _, r := range recs {
		if r.Offset <= cutoff {
			base.Add(r.Event)
		}
		all.Add(r.Event)
	}
	bases := base.States()
	asOf := time.Time{}
	for _, r := range recs[:cutoff+1] {
		if r.Event.TS.After(asOf) {
			asOf = r.Event.TS
		}
	}
	d := delta.New(spec, 0, delta.Run{ID: 7, Cutoff: cutoff, AsOf: asOf})
	for _, r := range recs[:cutoff+1] {
		d.Prime(r.Event.EntityID, r.Event.EventID)
	}
	// The whole log, twice: records at or below the position are skipped.
	for range 2 {
		for chunk := range slices.Chunk(recs, 128) {
			touched := d.Apply(chunk)
			for _, e := range touched {
				if !e.HasBase() {
					var b *features.State
					if st, ok := bases[e.ID()]; ok {
						b = st.Clone()
					}
					if err := d.SetBase(e, b); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	if d.Pos() != recs[len(recs)-1].Offset {
		t.Errorf("Pos() = %d, want %d", d.Pos(), recs[len(recs)-1].Offset)
	}
	wm, covered, asOfs := asOf, map[string]int64{}, map[string]time.Time{}
	for _, r := range recs[cutoff+1:] {
		if r.Event.TS.After(wm) {
			wm = r.Event.TS
		}
		covered[r.Event.EntityID], asOfs[r.Event.EntityID] = r.Offset, wm.Truncate(time.Microsecond)
	}
	want := all.States()
	if d.Len() != len(covered) {
		t.Errorf("%d entities, want %d", d.Len(), len(covered))
	}
	for e := range d.Entities() {
		if !e.Full().Equal(want[e.ID()]) {
			t.Errorf("entity %s: base ⊕ delta differs from the fold of all its events", e.ID())
		}
		if e.Covered() != covered[e.ID()] || !e.AsOf().Equal(asOfs[e.ID()]) {
			t.Errorf("entity %s: covered %d as of %s, want %d as of %s", e.ID(), e.Covered(), e.AsOf(), covered[e.ID()], asOfs[e.ID()])
		}
	}
}

func TestAdvanceSkipsInvalidOffsets(t *testing.T) {
	spec := features.DefaultSpec()
	d := delta.New(spec, 3, delta.Run{Cutoff: -1})
	recs := stream(10, 0, 4)
	d.Advance(4)
	touched := d.Apply(recs)
	for _, e := range touched {
		if e.Covered() <= 4 {
			t.Errorf("entity %s covers offset %d, at or below the advanced position", e.ID(), e.Covered())
		}
	}
	if d.Partition() != 3 || d.Run().ID != 0 {
		t.Errorf("partition %d run %d", d.Partition(), d.Run().ID)
	}
}
