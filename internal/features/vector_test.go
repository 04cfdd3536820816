package features_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

// TestVectorMatchesOracle compares vectors with a naive recomputation of every
// feature from the deduplicated events, straight from the package doc's definitions.
func TestVectorMatchesOracle(t *testing.T) {
	var def features.Definition
	if err := json.Unmarshal([]byte(fullSpecJSON), &def); err != nil {
		t.Fatal(err)
	}
	spec := fullSpec(t)
	for seed := range uint64(500) {
		r := rand.New(rand.NewPCG(seed, 4))
		log := randomLog(r, 1+r.IntN(200), 3, 0.2)
		states := foldEvents(spec, log)
		for id, st := range states {
			var mine []event.Event
			for _, e := range log {
				if e.EntityID == id {
					mine = append(mine, e)
				}
			}
			newest, ok := st.Newest()
			if !ok {
				newest = baseTime
			}
			for _, asOf := range []time.Time{newest, newest.Add(time.Duration(r.Int64N(int64(30 * time.Hour))))} {
				want := oracle(t, def, mine, asOf)
				if got := st.Vector(asOf); !sameVector(got, want) {
					for i, name := range spec.FeatureNames() {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Errorf("seed %d entity %s as of %s: %s = %v, want %v", seed, id, asOf, name, got[i], want[i])
						}
					}
					t.FailNow()
				}
			}
		}
	}
}

// oracle computes def's vector for one entity's events (arrival order) as of asOf.
func oracle(t *testing.T, def features.Definition, events []event.Event, asOf time.Time) []float32 {
	bucket := span(t, def.Bucket)
	var kept []event.Event
	seen := map[string]bool{}
	for _, e := range events {
		if slices.Contains(def.ExcludeTypes, e.Type) || (e.EventID != "" && seen[e.EventID]) {
			continue
		}
		seen[e.EventID] = true
		kept = append(kept, e)
	}
	at := asOf.UnixMicro()
	var out []float32
	for _, f := range def.Features {
		var match []event.Event
		for _, e := range kept {
			if len(f.Type) == 0 || slices.Contains(f.Type, e.Type) {
				match = append(match, e)
			}
		}
		if f.Window != "" {
			k, b := span(t, f.Window)/bucket, bucket.Microseconds()
			hi := floorDiv(at, b)
			match = slices.DeleteFunc(match, func(e event.Event) bool {
				eb := floorDiv(e.TS.UnixMicro(), b)
				return eb <= hi-int64(k) || eb > hi
			})
		}
		type val struct {
			v  float64
			ts int64
			h  uint64
		}
		var vals []val
		for _, e := range match {
			if e.Value != nil && !math.IsNaN(*e.Value) && !math.IsInf(*e.Value, 0) {
				vals = append(vals, val{v: *e.Value + 0, ts: e.TS.UnixMicro(), h: xxhash.Sum64String(e.EventID)})
			}
		}
		var sum int64
		for _, v := range vals {
			sum += int64(math.Round(v.v * 1e6))
		}
		v := 0.0
		if f.Default != nil {
			v = *f.Default
		}
		switch f.Agg {
		case "count":
			v = float64(len(match))
		case "sum":
			v = float64(sum) / 1e6
		case "mean":
			if len(vals) > 0 {
				v = float64(sum) / 1e6 / float64(len(vals))
			}
		case "min", "max", "last":
			if len(vals) == 0 {
				break
			}
			best := vals[0]
			for _, x := range vals[1:] {
				switch f.Agg {
				case "min":
					if x.v < best.v {
						best = x
					}
				case "max":
					if x.v > best.v {
						best = x
					}
				default:
					if x.ts > best.ts || x.ts == best.ts && (x.h > best.h || x.h == best.h && x.v > best.v) {
						best = x
					}
				}
			}
			v = best.v
		case "distinct":
			set := map[string]bool{}
			for _, e := range match {
				if a, ok := e.Attrs[f.Attr]; ok {
					set[a] = true
				}
			}
			v = float64(len(set))
		case "recency":
			if len(match) > 0 {
				newest := match[0].TS.UnixMicro()
				for _, e := range match {
					newest = max(newest, e.TS.UnixMicro())
				}
				v = max(0, float64(at-newest)/1e6)
			}
		}
		out = append(out, float32(v))
	}
	return out
}

func span(t *testing.T, s string) time.Duration {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(days) * 24 * time.Hour
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

func ev(id, typ string, ts time.Time, value ...float64) event.Event {
	e := event.Event{EventID: id, EntityID: "u", Type: typ, TS: ts}
	if len(value) > 0 {
		e.Value = &value[0]
	}
	return e
}

func mustSpec(t *testing.T, js string) *features.Spec {
	t.Helper()
	s, err := features.ParseSpec([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWindowGranularity(t *testing.T) {
	spec := mustSpec(t, `{"bucket": "1h", "features": [
		{"name": "c1h", "agg": "count", "window": "1h"},
		{"name": "c2h", "agg": "count", "window": "2h"}]}`)
	at := func(h, m int) time.Time {
		return baseTime.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	st := foldEvents(spec, []event.Event{ev("a", "view", at(10, 30))})["u"]
	for _, tc := range []struct {
		asOf     time.Time
		c1h, c2h float32
	}{
		{at(10, 30), 1, 1},
		{at(10, 59), 1, 1}, // same bucket
		{at(11, 0), 0, 1},  // next bucket: (T-1h, T] at bucket boundaries
		{at(11, 59), 0, 1}, // 2h window reaches back to 10:00
		{at(12, 0), 0, 0},
	} {
		if got := st.Vector(tc.asOf); got[0] != tc.c1h || got[1] != tc.c2h {
			t.Errorf("as of %s: got %v, want [%v %v]", tc.asOf.Format("15:04"), got, tc.c1h, tc.c2h)
		}
	}
}

func TestDuplicatesAndExcludedTypes(t *testing.T) {
	spec := features.DefaultSpec()
	events := []event.Event{
		ev("a", "view", baseTime), ev("a", "view", baseTime), // duplicate: folded once
		ev("", "view", baseTime), ev("", "view", baseTime), // no id: never a duplicate
		ev("l", "label", baseTime.Add(time.Hour), 1), // excluded
	}
	st := foldEvents(spec, events)["u"]
	if got := st.Vector(baseTime)[0]; got != 3 {
		t.Errorf("count_all = %v, want 3", got)
	}
	if newest, _ := st.Newest(); !newest.Equal(baseTime) {
		t.Errorf("newest = %s: label events must not count", newest)
	}
}

func TestSumIsExactFixedPoint(t *testing.T) {
	spec := mustSpec(t, `{"features": [{"name": "s", "agg": "sum"}, {"name": "m", "agg": "mean"}]}`)
	var events []event.Event
	for i := range 10 {
		events = append(events, ev(strconv.Itoa(i), "x", baseTime, 0.1))
	}
	got := foldEvents(spec, events)["u"].Vector(baseTime)
	if got[0] != 1 || got[1] != 0.1 {
		t.Errorf("ten times 0.1: sum %v mean %v, want 1 and 0.1", got[0], got[1])
	}
	// Cancellation in any merge order: 1e12 + 1e-6 - 1e12 is exactly 1e-6.
	parts := []float64{1e12, 1e-6, -1e12}
	want := float32(1e-6)
	for _, order := range [][]int{{0, 1, 2}, {2, 0, 1}, {1, 2, 0}} {
		st := spec.NewState()
		for _, i := range order {
			if err := st.Merge(foldEvents(spec, []event.Event{ev(strconv.Itoa(i), "x", baseTime, parts[i])})["u"]); err != nil {
				t.Fatal(err)
			}
		}
		if got := st.Vector(baseTime)[0]; got != want {
			t.Errorf("order %v: sum %v, want %v", order, got, want)
		}
	}
	sat := foldEvents(spec, []event.Event{ev("a", "x", baseTime, 1e300), ev("b", "x", baseTime, 1e300)})["u"]
	if got := sat.Vector(baseTime)[0]; got != float32(2*float64(math.MaxInt64)/1e6) {
		t.Errorf("saturated sum = %v", got)
	}
}

func TestLastTieBreakAndRecency(t *testing.T) {
	spec := mustSpec(t, `{"features": [{"name": "last", "agg": "last"}, {"name": "rec", "agg": "recency", "default": -1}]}`)
	a, b := ev("a", "x", baseTime, 1), ev("b", "x", baseTime, 2)
	ab, ba := foldEvents(spec, []event.Event{a, b})["u"], foldEvents(spec, []event.Event{b, a})["u"]
	if !ab.Equal(ba) {
		t.Error("last depends on arrival order for tied event times")
	}
	want := float32(1)
	if xxhash.Sum64String("b") > xxhash.Sum64String("a") {
		want = 2
	}
	if got := ab.Vector(baseTime)[0]; got != want {
		t.Errorf("last = %v, want %v", got, want)
	}
	if got := ab.Vector(baseTime.Add(90 * time.Second))[1]; got != 90 {
		t.Errorf("recency = %v, want 90", got)
	}
	if got := ab.Vector(baseTime.Add(-time.Hour))[1]; got != 0 {
		t.Errorf("recency before newest = %v, want 0", got)
	}
	if got := spec.NewState().Vector(baseTime); got[0] != 0 || got[1] != -1 {
		t.Errorf("empty state = %v, want defaults [0 -1]", got)
	}
}

func TestAppendVectorDoesNotAllocate(t *testing.T) {
	spec := features.DefaultSpec()
	st := foldEvents(spec, randomLog(rand.New(rand.NewPCG(1, 1)), 500, 1, 0))["user-0"]
	dst := make([]float32, 0, spec.Len())
	if n := testing.AllocsPerRun(100, func() { dst = st.AppendVector(dst[:0], baseTime) }); n != 0 {
		t.Errorf("AppendVector allocates %v times", n)
	}
}
