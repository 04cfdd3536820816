package speedlayer_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/speedlayer"
)

const approxSpecJSON = `{"features": [
  {"name": "count_all", "agg": "count"},
  {"name": "distinct_items", "agg": "distinct", "attr": "item", "approximate": "hll"}
]}`

// approxEvents returns, for entities entities, n_i distinct items each (log-spaced
// from 4 to 6000, so both sparse and dense sketches), as the events before and after
// a cutoff; a tenth of the items after it repeat items from before it.
func approxEvents(entities int) (before, after []event.Event) {
	now := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	for i := range entities {
		n := int(math.Round(4 * math.Pow(1500, float64(i)/float64(entities-1))))
		id := fmt.Sprintf("user-%03d", i)
		for j := range n {
			ev := event.Event{EventID: fmt.Sprintf("%s-%d", id, j), EntityID: id, Type: "view",
				TS: now.Add(time.Duration(j) * time.Millisecond), Attrs: map[string]string{"item": fmt.Sprint("item-", j)}}
			if j < n/2 {
				before = append(before, ev)
				continue
			}
			after = append(after, ev)
			if j%10 == 0 {
				ev.EventID += "-again"
				ev.Attrs = map[string]string{"item": fmt.Sprint("item-", j-n/2)}
				after = append(after, ev)
			}
		}
	}
	return before, after
}

// TestApproximateDistinctDivergence runs the speed layer on a spec whose distinct
// count it approximates, publishes a batch run that takes over every entity, and
// checks that each entity's divergence from the batch run's exact count was observed
// and stays within the bound package features states.
func TestApproximateDistinctDivergence(t *testing.T) {
	e := newEnv(t)
	spec, err := features.ParseSpec([]byte(approxSpecJSON))
	if err != nil {
		t.Fatal(err)
	}
	h, err := loadModel(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	e.spec, e.holder = spec, h
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const entities = 48
	before, after := approxEvents(entities)
	e.produce(ctx, e.topic, eventMessages(before)...)
	cut := e.ends(ctx)
	for p := range cut {
		cut[p]--
	}
	e.publish(ctx, e.readLog(ctx, e.ends(ctx)), cut)
	r := e.start("speed", e.pool, speedlayer.Config{MaxBatch: 5000, MaxWait: 10 * time.Millisecond})
	e.produce(ctx, e.topic, eventMessages(after)...)
	ends := e.ends(ctx)
	e.waitCommitted(ctx, "speed", ends)
	cut2 := make([]int64, len(ends))
	for p := range ends {
		cut2[p] = ends[p] - 1
	}
	e.publish(ctx, e.readLog(ctx, ends), cut2)

	const name = "lambda_speed_approx_relative_error"
	for r.metric(t, name, "feature", "distinct_items") < entities {
		if ctx.Err() != nil {
			t.Fatalf("%v of %d entities observed", r.metric(t, name, "feature", "distinct_items"), entities)
		}
		time.Sleep(20 * time.Millisecond)
	}
	h2 := r.histogram(t, name, "feature", "distinct_items")
	sigma := 1.04 / math.Sqrt(4096)
	mean := h2.GetSampleSum() / float64(h2.GetSampleCount())
	var within5, exact int
	for _, b := range h2.Bucket {
		switch b.GetUpperBound() {
		case 0.1:
			within5 = int(b.GetCumulativeCount())
		case 0.0001:
			exact = int(b.GetCumulativeCount())
		}
	}
	t.Logf("%d entities observed: mean relative error %.3f%% (σ %.3f%%), %d below 0.01%%, %d within 10%%",
		h2.GetSampleCount(), 100*mean, 100*sigma, exact, within5)
	if h2.GetSampleCount() != entities {
		t.Errorf("%d observations, want one per entity (%d)", h2.GetSampleCount(), entities)
	}
	if within5 != entities || mean > sigma {
		t.Errorf("divergence beyond the bound: mean %.3f%%, %d of %d within 10%% (5σ = %.2f%%)", 100*mean, within5, entities, 500*sigma)
	}
	// Up to 1024 items (the first 36 entities) the sketch is sparse, off by at most 2
	// values, and here (the items are fixed) by none.
	if exact < 36 {
		t.Errorf("%d entities below 0.01%%, want the sparse ones", exact)
	}
	if r.metric(t, name, "feature", "count_all") != 0 {
		t.Error("an exact feature was observed")
	}
	r.lint(t)
}
