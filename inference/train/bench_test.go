package train_test

import (
	"testing"

	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
)

// BenchmarkDemo generates and folds demo events into a dataset.
func BenchmarkDemo(b *testing.B) {
	spec := features.DefaultSpec()
	for b.Loop() {
		if _, err := train.Demo(spec, demogen.Config{Seed: 1, Entities: demoEntities}, demoEvents); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*demoEvents)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkFit trains each kind with the default config on the shared demo dataset.
func BenchmarkFit(b *testing.B) {
	tr, ho := demoSplit(b)
	for _, kind := range train.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			for b.Loop() {
				if _, err := train.Fit(b.Context(), tr, ho, train.Config{Kind: kind, Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tr.Len()), "rows")
		})
	}
}
