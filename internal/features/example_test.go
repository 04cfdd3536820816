package features_test

import (
	"fmt"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

// The batch layer folds the log up to the cutoff, the speed layer folds what came
// after and merges it onto the batch state; the vector is taken as of the newest
// event time in the log.
func Example() {
	spec := features.DefaultSpec()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	price := 20.0
	log := []event.Event{
		{EventID: "1", EntityID: "u1", Type: "view", TS: t0, Attrs: map[string]string{"category": "books"}},
		{EventID: "2", EntityID: "u1", Type: "purchase", TS: t0.Add(time.Minute), Value: &price},
		{EventID: "3", EntityID: "u1", Type: "click", TS: t0.Add(-time.Hour)}, // late
		{EventID: "3", EntityID: "u1", Type: "click", TS: t0.Add(-time.Hour)}, // redelivered
		{EventID: "4", EntityID: "u1", Type: "label", TS: t0.Add(time.Hour)},  // excluded
	}
	batch := features.NewFolder(spec)
	for _, e := range log[:2] {
		batch.Add(e)
	}
	speed := features.NewFolder(spec)
	for _, e := range log[2:] {
		speed.Add(e)
	}

	st := batch.States()["u1"].Clone()
	if err := st.Merge(speed.States()["u1"]); err != nil {
		panic(err)
	}
	row := st.Vector(t0.Add(time.Hour))
	for i, name := range spec.FeatureNames() {
		fmt.Printf("%s=%g ", name, row[i])
	}
	// Output: count_all=3 count_view=1 count_click=1 count_add_to_cart=0 count_purchase=1 sum_purchase_value=20 mean_purchase_value=20 max_purchase_value=20 last_value=20 distinct_category=1 recency_seconds=3540 count_click_1h=0 count_click_24h=1 count_add_to_cart_24h=0 sum_purchase_7d=20
}
