package inference_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

const (
	width  = 16 // features per row in the test models
	hidden = 32 // hidden units of the test MLP
	tol    = 1e-6
)

// reference is a model built in Go: its ONNX bytes and the pure-Go evaluation of its weights.
type reference struct {
	name    string
	onnx    []byte
	predict func([]float32) float32
}

func newLR(t testing.TB, seed uint64) reference {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	lr := onnxmodel.LogisticRegression{W: normals(r, width, 0.5), B: float32(r.NormFloat64())}
	m, err := lr.Model()
	if err != nil {
		t.Fatal(err)
	}
	return reference{name: "lr", onnx: m.Marshal(), predict: lr.Predict}
}

func newMLP(t testing.TB, seed uint64) reference {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	mlp := onnxmodel.MLP{
		W1: normals(r, width*hidden, 1/math.Sqrt(width)),
		B1: normals(r, hidden, 0.1),
		W2: normals(r, hidden, 1/math.Sqrt(hidden)),
		B2: float32(r.NormFloat64() * 0.1),
	}
	m, err := mlp.Model()
	if err != nil {
		t.Fatal(err)
	}
	return reference{name: "mlp", onnx: m.Marshal(), predict: mlp.Predict}
}

func normals(r *rand.Rand, n int, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * scale)
	}
	return out
}

func randomRows(r *rand.Rand, n int) [][]float32 {
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = normals(r, width, 1.5)
	}
	return rows
}

func flatten(rows [][]float32) []float32 {
	var x []float32
	for _, r := range rows {
		x = append(x, r...)
	}
	return x
}

func load(t testing.TB, ref reference, meta inference.Meta, opts inference.Options) *inference.Model {
	t.Helper()
	m, err := inference.LoadModel(ref.onnx, meta, opts)
	if err != nil {
		t.Fatalf("load %s: %v", ref.name, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close %s: %v", ref.name, err)
		}
	})
	return m
}

// checkScores compares scores with the pure-Go evaluation of every row.
func checkScores(t *testing.T, ref reference, rows [][]float32, scores []float32) {
	t.Helper()
	if len(scores) != len(rows) {
		t.Fatalf("%d scores for %d rows", len(scores), len(rows))
	}
	for i, row := range rows {
		if want := ref.predict(row); math.Abs(float64(scores[i]-want)) > tol {
			t.Fatalf("row %d: score %.9f, pure Go %.9f, |Δ| %.3g > %g", i, scores[i], want, math.Abs(float64(scores[i]-want)), tol)
		}
	}
}
