package demogen_test

import (
	"testing"

	"github.com/lambda-platform/lambda/internal/demogen"
)

func BenchmarkNext(b *testing.B) {
	g := demogen.New(demogen.Config{Seed: 1, Entities: 100000})
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
