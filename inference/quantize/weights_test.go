package quantize_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lambda-platform/lambda/inference/quantize"
)

func TestWeightsRoundToNearest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const k, n = 20, 12
	for name, c := range map[string]struct {
		rowScale  func(i int) float64
		rowScaled bool
	}{
		"balanced rows":        {func(int) float64 { return 1 }, false},
		"rows of 6 magnitudes": {func(i int) float64 { return math.Pow(10, float64(i%6-3)) }, true},
		"an all-zero row":      {func(i int) float64 { return float64(min(i, 1)) }, true},
	} {
		w := make([]float32, k*n)
		for i := range w {
			w[i] = float32(r.NormFloat64() * c.rowScale(i/n))
		}
		w[3] = 0 // zeros stay zero
		got, bound, rowScaled := quantize.Dequantized(w, k, n)
		if rowScaled != c.rowScaled {
			t.Errorf("%s: rows scaled = %v, want %v", name, rowScaled, c.rowScaled)
		}
		for i, v := range w {
			if d := math.Abs(got[i] - float64(v)); d > bound[i]*(1+1e-6) {
				t.Fatalf("%s: w[%d] = %g → %g, |Δ| %g over the bound %g", name, i, v, got[i], d, bound[i])
			}
			// The error is at most half a step of a 254-step grid over the row's range.
			rowMax := 0.0
			for _, x := range w[i/n*n : (i/n+1)*n] {
				rowMax = max(rowMax, math.Abs(float64(x)))
			}
			if c.rowScaled && math.Abs(got[i]-float64(v)) > rowMax/254*(1+1e-6) {
				t.Fatalf("%s: w[%d] = %g → %g, more than half a step of its row's max %g", name, i, v, got[i], rowMax)
			}
		}
		if got[3] != 0 {
			t.Errorf("%s: zero weight → %g", name, got[3])
		}
	}
}
