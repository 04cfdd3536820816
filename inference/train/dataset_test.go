package train_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

// TestCollectMatchesRefold checks every row against a fold from scratch of the entity's
// events that arrived before its label, as of the label's time.
func TestCollectMatchesRefold(t *testing.T) {
	spec := features.DefaultSpec()
	g := demogen.New(demogen.Config{Seed: 3, Entities: 200})
	events := make([]event.Event, 20000)
	for i := range events {
		events[i] = g.Next()
	}
	d, err := train.Collect(spec, demogen.TypeLabel, slices.Values(events))
	if err != nil {
		t.Fatal(err)
	}
	var row int
	for i, l := range events {
		if l.Type != demogen.TypeLabel {
			continue
		}
		f := features.NewFolder(spec)
		for _, e := range events[:i] {
			if e.EntityID == l.EntityID {
				f.Add(e)
			}
		}
		st := f.States()[l.EntityID]
		if st == nil {
			st = spec.NewState()
		}
		if want := st.Vector(l.TS); !slices.Equal(d.Row(row), want) || d.Y[row] != float32(*l.Value) {
			t.Fatalf("row %d (label %s): %v → %v, want %v → %v", row, l.EventID, d.Row(row), d.Y[row], want, *l.Value)
		}
		row++
	}
	if row != d.Len() || row < 100 {
		t.Fatalf("%d rows for %d labels, want one per label and at least 100", d.Len(), row)
	}
	if !slices.Equal(d.Features, spec.FeatureNames()) {
		t.Errorf("features %v, want the spec's", d.Features)
	}
}

func TestCollectLabels(t *testing.T) {
	spec := features.DefaultSpec()
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	value := func(v float64) *float64 { return &v }
	events := []event.Event{
		{EventID: "1", EntityID: "a", Type: "label", TS: at, Value: value(1)}, // before any event
		{EventID: "2", EntityID: "a", Type: "click", TS: at.Add(time.Minute)},
		{EventID: "3", EntityID: "a", Type: "label", TS: at.Add(time.Hour), Value: value(0)},
	}
	d, err := train.Collect(spec, "label", slices.Values(events))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 || !slices.Equal(d.Y, []float32{1, 0}) {
		t.Fatalf("labels %v, want [1 0]", d.Y)
	}
	if want := spec.NewState().Vector(at); !slices.Equal(d.Row(0), want) {
		t.Errorf("row before any event %v, want the identity's %v", d.Row(0), want)
	}
	names := d.Features
	clicks, recency := d.Row(1)[slices.Index(names, "count_click")], d.Row(1)[slices.Index(names, "recency_seconds")]
	if clicks != 1 || recency != 59*60 {
		t.Errorf("after one click: count_click %v, recency %v s; want 1 and 3540 (as of the label)", clicks, recency)
	}

	events[2].Value = value(0.5)
	if _, err := train.Collect(spec, "label", slices.Values(events)); !errors.Is(err, train.ErrInvalidLabel) {
		t.Errorf("label 0.5: %v, want ErrInvalidLabel", err)
	}
}

func TestSplitKeepsNewestForHoldout(t *testing.T) {
	d := train.Dataset{Features: []string{"x"}, X: []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Y: make([]float32, 10)}
	tr, ho := d.Split(0.2)
	if !slices.Equal(tr.X, []float32{0, 1, 2, 3, 4, 5, 6, 7}) || !slices.Equal(ho.X, []float32{8, 9}) || ho.Len() != 2 {
		t.Errorf("split %v | %v", tr.X, ho.X)
	}
}
