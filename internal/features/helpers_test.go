package features_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

// fullSpecJSON exercises every aggregation, shared cells, windows of several lengths,
// filters on one and several types, and defaults; its speed variant has a sketch of
// precision 4 (dense from 5 values on) and one of the default precision.
const fullSpecJSON = `{
  "bucket": "1h",
  "exclude_types": ["label"],
  "features": [
    {"name": "count_all", "agg": "count"},
    {"name": "count_click", "agg": "count", "type": "click"},
    {"name": "count_view_click", "agg": "count", "type": ["view", "click"]},
    {"name": "sum_value", "agg": "sum"},
    {"name": "sum_purchase", "agg": "sum", "type": "purchase"},
    {"name": "mean_purchase", "agg": "mean", "type": "purchase", "default": -1},
    {"name": "min_value", "agg": "min", "default": -2},
    {"name": "max_purchase", "agg": "max", "type": "purchase"},
    {"name": "last_value", "agg": "last"},
    {"name": "last_click", "agg": "last", "type": "click", "default": -3},
    {"name": "distinct_category", "agg": "distinct", "attr": "category", "approximate": "hll", "precision": 4},
    {"name": "distinct_device_view", "agg": "distinct", "attr": "device", "type": "view", "approximate": "hll"},
    {"name": "recency", "agg": "recency"},
    {"name": "recency_purchase", "agg": "recency", "type": "purchase", "default": 1e9},
    {"name": "count_click_1h", "agg": "count", "type": "click", "window": "1h"},
    {"name": "count_click_3h", "agg": "count", "type": "click", "window": "3h"},
    {"name": "count_all_24h", "agg": "count", "window": "24h"},
    {"name": "sum_purchase_2h", "agg": "sum", "type": "purchase", "window": "2h"},
    {"name": "mean_purchase_5h", "agg": "mean", "type": "purchase", "window": "5h", "default": -4},
    {"name": "sum_view_click_7d", "agg": "sum", "type": ["click", "view"], "window": "7d"}
  ]
}`

func fullSpec(t testing.TB) *features.Spec {
	t.Helper()
	s, err := features.ParseSpec([]byte(fullSpecJSON))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func specs(t testing.TB) map[string]*features.Spec {
	return map[string]*features.Spec{"default": features.DefaultSpec(), "full": fullSpec(t), "full_speed": fullSpec(t).Speed()}
}

var (
	baseTime   = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	eventTypes = []string{"view", "view", "view", "click", "click", "add_to_cart", "purchase", "label", "search"}
	categories = []string{"shoes", "books", "toys", "garden", ""}
	devices    = []string{"ios", "android", "web"}
)

// randomLog returns n events in arrival order over a few entities, with event times
// out of order across ~5 days (some on a coarse grid, so times tie), assorted values
// and attrs, and with probability dup each event re-sent later in the log under the
// same event_id (so a copy can land on either side of a cutoff).
func randomLog(r *rand.Rand, n, entities int, dup float64) []event.Event {
	log := make([]event.Event, 0, n)
	for i := range n {
		e := event.Event{
			EventID:  fmt.Sprintf("ev-%d", i),
			EntityID: fmt.Sprintf("user-%d", r.IntN(entities)),
			Type:     eventTypes[r.IntN(len(eventTypes))],
		}
		if r.IntN(4) == 0 {
			e.TS = baseTime.Add(time.Duration(r.IntN(120)) * 30 * time.Minute)
		} else {
			e.TS = baseTime.Add(time.Duration(r.Int64N(int64(5 * 24 * time.Hour))))
		}
		if r.IntN(5) > 0 {
			v := randomValue(r)
			e.Value = &v
		}
		if r.IntN(3) > 0 {
			e.Attrs = map[string]string{"category": categories[r.IntN(len(categories))]}
			if r.IntN(2) == 0 {
				e.Attrs["device"] = devices[r.IntN(len(devices))]
			}
		}
		if r.IntN(40) == 0 {
			e.EventID = "" // never deduplicated
		}
		log = append(log, e)
	}
	for i := range log {
		if r.Float64() < dup {
			j := i + r.IntN(len(log)-i)
			log = slices.Insert(log, j, log[i])
		}
	}
	return log
}

func randomValue(r *rand.Rand) float64 {
	switch r.IntN(10) {
	case 0:
		return float64(r.IntN(5))
	case 1:
		return -r.Float64() * 100
	case 2:
		return math.Copysign(0, -1)
	case 3:
		return r.Float64() * 1e9
	case 4:
		return []float64{math.NaN(), math.Inf(1), math.Inf(-1)}[r.IntN(3)]
	case 5:
		return math.Round(r.Float64()*1e4) / 100
	default:
		return r.NormFloat64() * 50
	}
}

func foldEvents(spec *features.Spec, events []event.Event) map[string]*features.State {
	f := features.NewFolder(spec)
	for _, e := range events {
		f.Add(e)
	}
	return f.States()
}

// buildRecord builds an EventSchema record from events.
func buildRecord(t testing.TB, events []event.Event) arrow.Record {
	t.Helper()
	b := array.NewRecordBuilder(memory.NewGoAllocator(), features.EventSchema)
	defer b.Release()
	ent, id, typ := b.Field(0).(*array.StringBuilder), b.Field(1).(*array.StringBuilder), b.Field(2).(*array.StringBuilder)
	ts, val := b.Field(3).(*array.Int64Builder), b.Field(4).(*array.Float64Builder)
	keys, vals := b.Field(5).(*array.ListBuilder), b.Field(6).(*array.ListBuilder)
	kb, vb := keys.ValueBuilder().(*array.StringBuilder), vals.ValueBuilder().(*array.StringBuilder)
	for _, e := range events {
		ent.Append(e.EntityID)
		id.Append(e.EventID)
		typ.Append(e.Type)
		ts.Append(e.TS.UnixMicro())
		if e.Value != nil {
			val.Append(*e.Value)
		} else {
			val.AppendNull()
		}
		if e.Attrs == nil {
			keys.AppendNull()
			vals.AppendNull()
			continue
		}
		keys.Append(true)
		vals.Append(true)
		for _, k := range slices.Sorted(maps.Keys(e.Attrs)) {
			kb.Append(k)
			vb.Append(e.Attrs[k])
		}
	}
	return b.NewRecord()
}

func sameVector(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func encode(t testing.TB, st *features.State) []byte {
	t.Helper()
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
