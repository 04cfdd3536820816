package demogen_test

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
)

func generate(cfg demogen.Config, n int) []event.Event {
	g := demogen.New(cfg)
	events := make([]event.Event, n)
	for i := range events {
		events[i] = g.Next()
	}
	return events
}

func TestDeterministic(t *testing.T) {
	cfg := demogen.Config{Entities: 500, Seed: 42}
	a, b := generate(cfg, 5000), generate(cfg, 5000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two generators with the same config differ")
	}
	cfg.Seed = 43
	c := generate(cfg, 5000)
	same := 0
	for i := range a {
		if a[i].EntityID == c[i].EntityID && a[i].Type == c[i].Type {
			same++
		}
	}
	if same > len(a)/5 {
		t.Errorf("seeds 42 and 43 agree on %d of %d events", same, len(a))
	}
}

func TestDefaults(t *testing.T) {
	cfg := demogen.New(demogen.Config{}).Config()
	want := demogen.Config{
		Entities:        demogen.DefaultEntities,
		Start:           demogen.DefaultStart,
		EventsPerSecond: demogen.DefaultEventsPerSecond,
		LateFraction:    demogen.DefaultLateFraction,
		MaxLateness:     demogen.DefaultMaxLateness,
		LabelFraction:   demogen.DefaultLabelFraction,
		ActivitySkew:    demogen.DefaultActivitySkew,
	}
	if cfg != want {
		t.Errorf("defaults = %+v, want %+v", cfg, want)
	}
	off := demogen.New(demogen.Config{LateFraction: -1, LabelFraction: -1}).Config()
	if off.LateFraction != 0 || off.LabelFraction != 0 {
		t.Errorf("negative fractions = %v, %v; want 0", off.LateFraction, off.LabelFraction)
	}
}

func TestEventsValidAndUnique(t *testing.T) {
	events := generate(demogen.Config{Entities: 1000, Seed: 7}, 50000)
	ids := make(map[string]bool, len(events))
	for i, e := range events {
		if err := event.Validate(e); err != nil {
			t.Fatalf("event %d %+v: %v", i, e, err)
		}
		if ids[e.EventID] {
			t.Fatalf("event id %s repeats", e.EventID)
		}
		ids[e.EventID] = true
		// Encoding round-trips: the generator produces what ingest accepts.
		if _, err := event.Decode(event.Encode(e)); err != nil {
			t.Fatalf("Decode(Encode(event %d)) = %v", i, err)
		}
	}
	other := generate(demogen.Config{Entities: 1000, Seed: 8}, 1000)
	for _, e := range other {
		if ids[e.EventID] {
			t.Fatalf("event id %s repeats across seeds", e.EventID)
		}
	}
}

func TestEventShape(t *testing.T) {
	types := map[string]int{}
	for _, e := range generate(demogen.Config{Seed: 3}, 100000) {
		types[e.Type]++
		switch e.Type {
		case demogen.TypeView, demogen.TypeClick:
			if e.Value != nil {
				t.Fatalf("%s with a value: %+v", e.Type, e)
			}
		case demogen.TypeAddToCart, demogen.TypePurchase:
			if e.Value == nil || *e.Value < 0.01 || *e.Value > 100000 {
				t.Fatalf("%s without a plausible price: %+v", e.Type, e)
			}
		case demogen.TypeLabel:
			if e.Value == nil || (*e.Value != 0 && *e.Value != 1) || e.Attrs != nil {
				t.Fatalf("label not 0/1 without attrs: %+v", e)
			}
			continue
		default:
			t.Fatalf("unknown type %q", e.Type)
		}
		for _, k := range []string{demogen.AttrDevice, demogen.AttrCountry, demogen.AttrCategory} {
			if e.Attrs[k] == "" {
				t.Fatalf("event without %s: %+v", k, e)
			}
		}
	}
	// Plausible funnel: views > clicks > add_to_cart > purchase, labels about 1%.
	if !(types["view"] > types["click"] && types["click"] > types["add_to_cart"] && types["add_to_cart"] > types["purchase"] && types["purchase"] > 0) {
		t.Errorf("type counts %v are not a funnel", types)
	}
	if frac := float64(types["label"]) / 100000; math.Abs(frac-demogen.DefaultLabelFraction) > 0.002 {
		t.Errorf("label fraction %.4f, want about %v", frac, demogen.DefaultLabelFraction)
	}
}

func TestSkew(t *testing.T) {
	const entities, n = 10000, 200000
	counts := map[string]int{}
	for _, e := range generate(demogen.Config{Entities: entities, Seed: 5}, n) {
		counts[e.EntityID]++
	}
	perEntity := make([]int, 0, entities)
	for _, c := range counts {
		perEntity = append(perEntity, c)
	}
	for len(perEntity) < entities {
		perEntity = append(perEntity, 0)
	}
	slices.Sort(perEntity)
	slices.Reverse(perEntity)
	share := func(from, to int) float64 {
		s := 0
		for _, c := range perEntity[from:to] {
			s += c
		}
		return float64(s) / n
	}
	if top := share(0, entities/100); top < 0.25 || top > 0.5 {
		t.Errorf("top 1%% of entities have %.2f of events, want 0.25-0.5", top)
	}
	if bottom := share(entities/2, entities); bottom > 0.2 {
		t.Errorf("bottom half of entities have %.2f of events, want a long tail under 0.2", bottom)
	}
	if len(counts) < entities*8/10 {
		t.Errorf("only %d of %d entities active", len(counts), entities)
	}
}

func TestTimeAndLateness(t *testing.T) {
	const n = 200000
	cfg := demogen.Config{Seed: 9, EventsPerSecond: 50, MaxLateness: 10 * time.Minute}
	events := generate(cfg, n)
	var late int
	newest := time.Time{}
	for _, e := range events {
		if e.TS.Before(newest) {
			late++
			if lag := newest.Sub(e.TS); lag > cfg.MaxLateness+time.Second {
				t.Fatalf("event %+v is %v late, more than MaxLateness", e, lag)
			}
			if e.Type == demogen.TypeLabel {
				t.Fatalf("label event is late: %+v", e)
			}
			continue
		}
		newest = e.TS
	}
	if frac := float64(late) / n; math.Abs(frac-demogen.DefaultLateFraction) > 0.003 {
		t.Errorf("late fraction %.4f, want %v ± 0.003", frac, demogen.DefaultLateFraction)
	}
	// The clock advances at EventsPerSecond.
	span := newest.Sub(demogen.DefaultStart).Seconds()
	if pace := n / span; math.Abs(pace-cfg.EventsPerSecond) > 0.02*cfg.EventsPerSecond {
		t.Errorf("pace %.1f events/s, want %v", pace, cfg.EventsPerSecond)
	}
	if events[0].TS.Location() != time.UTC {
		t.Errorf("ts location %v, want UTC", events[0].TS.Location())
	}
}

func TestLabelsFollowBehaviour(t *testing.T) {
	carts := map[string]int{}
	var rate [2]struct{ n, ones int } // by whether the entity had an add_to_cart
	for _, e := range generate(demogen.Config{Seed: 11}, 300000) {
		switch e.Type {
		case demogen.TypeAddToCart:
			carts[e.EntityID]++
		case demogen.TypeLabel:
			i := min(carts[e.EntityID], 1)
			rate[i].n++
			rate[i].ones += int(*e.Value)
		}
	}
	without := float64(rate[0].ones) / float64(rate[0].n)
	with := float64(rate[1].ones) / float64(rate[1].n)
	if rate[0].n < 100 || rate[1].n < 100 || with < without+0.2 {
		t.Errorf("label=1 rate %.2f (n=%d) with add_to_cart vs %.2f (n=%d) without; want clearly higher",
			with, rate[1].n, without, rate[0].n)
	}
	if all := float64(rate[0].ones+rate[1].ones) / float64(rate[0].n+rate[1].n); all < 0.1 || all > 0.9 {
		t.Errorf("label=1 rate %.2f, want a usable balance", all)
	}
}

func TestConversionProbability(t *testing.T) {
	base := demogen.Activity{Views: 20, Clicks: 5, AddToCarts: 1, SinceLast: time.Hour}
	p := demogen.ConversionProbability(base)
	if p <= 0 || p >= 1 {
		t.Fatalf("p = %v, want in (0,1)", p)
	}
	for name, more := range map[string]demogen.Activity{
		"more clicks":    {Views: 20, Clicks: 10, AddToCarts: 1, SinceLast: time.Hour},
		"more carts":     {Views: 20, Clicks: 5, AddToCarts: 3, SinceLast: time.Hour},
		"more purchases": {Views: 20, Clicks: 5, AddToCarts: 1, Purchases: 1, SinceLast: time.Hour},
		"more recent":    {Views: 20, Clicks: 5, AddToCarts: 1, SinceLast: time.Minute},
		"fewer views":    {Views: 5, Clicks: 5, AddToCarts: 1, SinceLast: time.Hour},
	} {
		if q := demogen.ConversionProbability(more); q <= p {
			t.Errorf("%s: p = %v, want more than %v", name, q, p)
		}
	}
	capped := base
	capped.SinceLast = 1000 * time.Hour
	capAt := base
	capAt.SinceLast = demogen.RecencyCap
	if demogen.ConversionProbability(capped) != demogen.ConversionProbability(capAt) {
		t.Error("recency is not capped at RecencyCap")
	}
	// The documented rule, by hand: x = -1.5 - 0.7·ln 21 + 0.2·ln 6 + 1.0·ln 2 - 0.5·ln 2.
	x := -1.5 - 0.7*math.Log(21) + 0.2*math.Log(6) + 1.0*math.Log(2) - 0.5*math.Log(2)
	if want := 1 / (1 + math.Exp(-x)); math.Abs(p-want) > 1e-12 {
		t.Errorf("p = %v, want %v from the documented rule", p, want)
	}
}
