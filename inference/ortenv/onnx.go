package ortenv

import (
	"testing"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

// Builder is a model built in Go, such as onnxmodel.LogisticRegression or onnxmodel.MLP.
type Builder interface {
	Model() (*onnxmodel.Model, error)
}

// ONNX encodes b into ONNX bytes, failing the test if it cannot be built.
func ONNX(t testing.TB, b Builder) []byte {
	t.Helper()
	m, err := b.Model()
	if err != nil {
		t.Fatal(err)
	}
	return m.Marshal()
}
