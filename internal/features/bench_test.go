package features_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

const (
	benchEvents   = 1 << 17
	benchEntities = 2048
	benchBatch    = 1 << 14 // rows per Arrow record
)

// Orders of the bench log.
const (
	arrival  = "arrival"   // as produced: entities interleaved, event times out of order
	entity   = "entity"    // ORDER BY entity_id: event times out of order within an entity
	entityTS = "entity_ts" // ORDER BY entity_id, ts_us: what the batch layer should read
)

// benchLog returns demo-like events: UUID-sized ids, ~64 events per entity over a
// week, a category and a device attr each, no duplicates, in the given order.
func benchLog(order string) []event.Event {
	r := rand.New(rand.NewPCG(42, 42))
	types := []string{"view", "view", "view", "view", "click", "click", "add_to_cart", "purchase", "label"}
	cats := []string{"shoes", "books", "toys", "garden", "games"}
	out := make([]event.Event, benchEvents)
	for i := range out {
		e := event.Event{
			EventID:  fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff),
			EntityID: fmt.Sprintf("user-%06d", r.IntN(benchEntities)),
			Type:     types[r.IntN(len(types))],
			TS:       baseTime.Add(time.Duration(r.Int64N(int64(7 * 24 * time.Hour)))),
			Attrs:    map[string]string{"device": "web", "category": cats[r.IntN(len(cats))]},
		}
		if e.Type == "purchase" || e.Type == "label" {
			v := r.Float64() * 100
			e.Value = &v
		}
		out[i] = e
	}
	switch order {
	case entity:
		slices.SortStableFunc(out, func(a, b event.Event) int { return cmp.Compare(a.EntityID, b.EntityID) })
	case entityTS:
		slices.SortStableFunc(out, func(a, b event.Event) int {
			return cmp.Or(cmp.Compare(a.EntityID, b.EntityID), a.TS.Compare(b.TS))
		})
	}
	return out
}

func reportEvents(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n)/float64(b.N), "ns/event")
}

func BenchmarkFoldEvents(b *testing.B) {
	spec := features.DefaultSpec()
	for _, order := range []string{arrival, entity} {
		log := benchLog(order)
		b.Run("folder/"+order, func(b *testing.B) {
			for b.Loop() {
				f := features.NewFolder(spec)
				for _, e := range log {
					f.Add(e)
				}
				f.States()
			}
			reportEvents(b, len(log))
		})
	}
	log := benchLog(entity)
	b.Run("stream/"+entity, func(b *testing.B) {
		for b.Loop() {
			s := features.NewStream(spec, func(string, *features.State) error { return nil })
			for _, e := range log {
				if err := s.Add(e); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
		reportEvents(b, len(log))
	})
}

func BenchmarkFoldRecords(b *testing.B) {
	spec := features.DefaultSpec()
	build := func(log []event.Event) []arrow.Record {
		var recs []arrow.Record
		for c := range slices.Chunk(log, benchBatch) {
			recs = append(recs, buildRecord(b, c))
		}
		return recs
	}
	for _, order := range []string{arrival, entity} {
		recs := build(benchLog(order))
		b.Run("folder/"+order, func(b *testing.B) {
			for b.Loop() {
				f := features.NewFolder(spec)
				for _, rec := range recs {
					if err := f.AddRecord(rec); err != nil {
						b.Fatal(err)
					}
				}
				f.States()
			}
			reportEvents(b, benchEvents)
		})
	}
	for _, order := range []string{entity, entityTS} {
		recs := build(benchLog(order))
		b.Run("stream/"+order, func(b *testing.B) {
			for b.Loop() {
				s := features.NewStream(spec, func(string, *features.State) error { return nil })
				for _, rec := range recs {
					if err := s.AddRows(rec, nil); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			reportEvents(b, benchEvents)
		})
	}
}

// benchStates returns the default spec's states of the bench log (~64 events each).
func benchStates(b *testing.B) []*features.State {
	var out []*features.State
	for _, st := range foldEvents(features.DefaultSpec(), benchLog(arrival)) {
		out = append(out, st)
	}
	return out
}

func BenchmarkVector(b *testing.B) {
	states := benchStates(b)
	asOf := baseTime.Add(7 * 24 * time.Hour)
	dst := make([]float32, 0, features.DefaultSpec().Len())
	i := 0
	for b.Loop() {
		dst = states[i%len(states)].AppendVector(dst[:0], asOf)
		i++
	}
}

func BenchmarkEncode(b *testing.B) {
	states := benchStates(b)
	var buf []byte
	total := 0
	for _, st := range states {
		buf, _ = st.AppendBinary(buf[:0])
		total += len(buf)
	}
	i := 0
	for b.Loop() {
		buf, _ = states[i%len(states)].AppendBinary(buf[:0])
		i++
	}
	b.ReportMetric(float64(total)/float64(len(states)), "bytes/state")
}

func BenchmarkDecode(b *testing.B) {
	spec := features.DefaultSpec()
	var encoded [][]byte
	for _, st := range benchStates(b) {
		encoded = append(encoded, encode(b, st))
	}
	i := 0
	for b.Loop() {
		if _, err := spec.Decode(encoded[i%len(encoded)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMerge(b *testing.B) {
	states := benchStates(b)
	i := 0
	for b.Loop() {
		st := states[i%len(states)].Clone()
		if err := st.Merge(states[(i+1)%len(states)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDistinct compares a distinct feature kept exact (the batch layer) with its
// HyperLogLog sketch at the default precision (the speed layer of an approximate
// feature): folding n distinct values of one entity (ns/event), merging two states
// of n values each, half of them shared, and the encoded state's size.
func BenchmarkDistinct(b *testing.B) {
	exact, err := features.ParseSpec([]byte(`{"features": [{"name": "items", "agg": "distinct", "attr": "item", "approximate": "hll"}]}`))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10, 1000, 10000} {
		evs := make([]event.Event, 2*n)
		for i := range evs {
			evs[i] = event.Event{EventID: fmt.Sprint("ev-", i), EntityID: "e", Type: "view", TS: baseTime,
				Attrs: map[string]string{"item": fmt.Sprint("item-", i)}}
		}
		for _, kind := range []struct {
			name string
			spec *features.Spec
		}{{"exact", exact}, {"hll", exact.Speed()}} {
			b.Run(fmt.Sprintf("fold/%s/%d", kind.name, n), func(b *testing.B) {
				for b.Loop() {
					f := features.NewFolder(kind.spec)
					for _, e := range evs[:n] {
						f.Add(e)
					}
					f.States()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n)/float64(b.N), "ns/event")
			})
			x, y := foldEvents(kind.spec, evs[:n])["e"], foldEvents(kind.spec, evs[n/2:n+n/2])["e"]
			b.Run(fmt.Sprintf("merge/%s/%d", kind.name, n), func(b *testing.B) {
				for b.Loop() {
					if err := x.Clone().Merge(y); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(encode(b, x))), "state-bytes")
			})
		}
	}
}
