package delta_test

import (
	"testing"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/speedlayer/delta"
)

// BenchmarkApply folds micro-batches of 3000 demo events of 100000 entities, as the
// speed layer does at 50k events/s, and takes every touched entity's vector and
// encoded delta, as a row needs.
func BenchmarkApply(b *testing.B) {
	spec := features.DefaultSpec()
	g := demogen.New(demogen.Config{Entities: 100_000, Seed: 1})
	const batch = 3000
	recs := make([]delta.Record, 100*batch)
	for i := range recs {
		recs[i] = delta.Record{Offset: int64(i), Event: g.Next()}
	}
	d := delta.New(spec, 0, delta.Run{ID: 1, Cutoff: -1})
	var x []float32
	var states []byte
	n := 0
	for b.Loop() {
		if n == len(recs) {
			b.StopTimer()
			d, n = delta.New(spec, 0, delta.Run{ID: 1, Cutoff: -1}), 0
			b.StartTimer()
		}
		touched := d.Apply(recs[n : n+batch])
		n += batch
		x, states = x[:0], states[:0]
		for _, e := range touched {
			if !e.HasBase() {
				if err := d.SetBase(e, nil); err != nil {
					b.Fatal(err)
				}
			}
			x = e.Full().AppendVector(x, e.AsOf())
			states, _ = e.Delta().AppendBinary(states)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
