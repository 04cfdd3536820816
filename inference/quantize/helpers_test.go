package quantize_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

// wideMLP is an MLP with a width×hidden first layer of He-initialised weights.
func wideMLP(t testing.TB, width, hidden int, seed uint64) onnxmodel.MLP {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	return onnxmodel.MLP{
		W1: normals(r, width*hidden, math.Sqrt(2/float64(width))),
		B1: normals(r, hidden, 0.1),
		W2: normals(r, hidden, 1/math.Sqrt(float64(hidden))),
		B2: 0.1,
	}
}

func normals(r *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * scale)
	}
	return out
}
