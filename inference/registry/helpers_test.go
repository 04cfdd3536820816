package registry_test

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// width is the number of features of the test models.
const width = 6

func newRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	pool, _ := testenv.Postgres(t)
	return registry.New(pool, slog.New(slog.NewTextHandler(t.Output(), nil)))
}

func featureNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("f%d", i)
	}
	return names
}

// lr returns a logistic regression with random weights from seed.
func lr(seed uint64, n int) onnxmodel.LogisticRegression {
	r := rand.New(rand.NewPCG(seed, 5))
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	return onnxmodel.LogisticRegression{W: w, B: float32(r.NormFloat64())}
}

func fp32(t testing.TB, seed uint64) registry.File {
	return registry.File{Variant: registry.FP32, ONNX: ortenv.ONNX(t, lr(seed, width))}
}
