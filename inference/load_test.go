package inference_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

func TestLoadBadBytes(t *testing.T) {
	valid := newMLP(t, 1).onnx
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rand.N(256))
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"garbage":   garbage,
		"text":      []byte("this is not an onnx model\n"),
		"truncated": valid[:len(valid)/2],
		"cut tail":  valid[:len(valid)-3],
	} {
		t.Run(name, func(t *testing.T) {
			m, err := inference.LoadModel(b, inference.Meta{Name: "bad", Version: 9}, inference.Options{})
			if !errors.Is(err, inference.ErrInvalidModel) || !strings.Contains(err.Error(), "model bad@9") {
				t.Fatalf("LoadModel(%s) = %v, %v; want ErrInvalidModel naming bad@9", name, m, err)
			}
			t.Log(err)
		})
	}
}

func TestLoadFeaturesWidth(t *testing.T) {
	meta := inference.Meta{Name: "lr", Features: make([]string, width-1)}
	_, err := inference.LoadModel(newLR(t, 1).onnx, meta, inference.Options{})
	if !errors.Is(err, inference.ErrInputWidth) || !strings.Contains(err.Error(), `input "features" has width 16, metadata lists 15 features`) {
		t.Fatalf("LoadModel with 15 feature names for width 16: %v, want ErrInputWidth", err)
	}
	meta.Features = make([]string, width)
	m := load(t, newLR(t, 1), meta, inference.Options{})
	if m.Width() != width || len(m.Meta().Features) != width {
		t.Fatalf("width %d, %d features; want %d", m.Width(), len(m.Meta().Features), width)
	}
}

func TestLoadUnsupportedSignature(t *testing.T) {
	f := int64(width)
	in := func(name string, typ onnxmodel.DataType, dims ...onnxmodel.Dim) onnxmodel.ValueInfo {
		return onnxmodel.ValueInfo{Name: name, ElemType: typ, Shape: dims}
	}
	n, fd := onnxmodel.Dim{Param: "N"}, onnxmodel.Dim{Value: f}
	w := onnxmodel.FloatTensor("w", []int64{f, 1}, make([]float32, f))
	for name, c := range map[string]struct {
		g    onnxmodel.Graph
		want string
	}{
		"two inputs": {onnxmodel.Graph{
			Nodes:   []onnxmodel.Node{{OpType: "Add", Inputs: []string{"a", "b"}, Outputs: []string{"y"}}},
			Inputs:  []onnxmodel.ValueInfo{in("a", onnxmodel.Float, n, fd), in("b", onnxmodel.Float, n, fd)},
			Outputs: []onnxmodel.ValueInfo{in("y", onnxmodel.Float, n, fd)},
		}, "2 inputs and 1 outputs"},
		"int64 input": {onnxmodel.Graph{
			Nodes: []onnxmodel.Node{
				{OpType: "Cast", Inputs: []string{"x"}, Outputs: []string{"xf"},
					Attributes: []onnxmodel.Attribute{{Name: "to", Type: onnxmodel.AttrInt, I: int64(onnxmodel.Float)}}},
				{OpType: "MatMul", Inputs: []string{"xf", "w"}, Outputs: []string{"y"}},
			},
			Initializer: []onnxmodel.Tensor{w},
			Inputs:      []onnxmodel.ValueInfo{in("x", onnxmodel.Int64, n, fd)},
			Outputs:     []onnxmodel.ValueInfo{in("y", onnxmodel.Float, n, onnxmodel.Dim{Value: 1})},
		}, `"x" has element type INT64, want FLOAT`},
		"two scores per row": {onnxmodel.Graph{
			Nodes:       []onnxmodel.Node{{OpType: "MatMul", Inputs: []string{"x", "w2"}, Outputs: []string{"y"}}},
			Initializer: []onnxmodel.Tensor{onnxmodel.FloatTensor("w2", []int64{f, 2}, make([]float32, 2*f))},
			Inputs:      []onnxmodel.ValueInfo{in("x", onnxmodel.Float, n, fd)},
			Outputs:     []onnxmodel.ValueInfo{in("y", onnxmodel.Float, n, onnxmodel.Dim{Value: 2})},
		}, `output "y" has shape [N, 2], want [N] or [N, 1] for input shape [N, 16]`},
		"rank 1 input": {onnxmodel.Graph{
			Nodes:   []onnxmodel.Node{{OpType: "Sigmoid", Inputs: []string{"x"}, Outputs: []string{"y"}}},
			Inputs:  []onnxmodel.ValueInfo{in("x", onnxmodel.Float, n)},
			Outputs: []onnxmodel.ValueInfo{in("y", onnxmodel.Float, n)},
		}, `input "x" has shape [N], want [N, F] with a fixed F`},
		"weights narrower than the input": {onnxmodel.Graph{
			Nodes:       []onnxmodel.Node{{OpType: "MatMul", Inputs: []string{"x", "w8"}, Outputs: []string{"y"}}},
			Initializer: []onnxmodel.Tensor{onnxmodel.FloatTensor("w8", []int64{8, 1}, make([]float32, 8))},
			Inputs:      []onnxmodel.ValueInfo{in("x", onnxmodel.Float, n, fd)},
			Outputs:     []onnxmodel.ValueInfo{in("y", onnxmodel.Float, n, onnxmodel.Dim{Value: 1})},
		}, "MatMul"},
		"unknown operator": {onnxmodel.Graph{
			Nodes:       []onnxmodel.Node{{OpType: "NoSuchOp", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}},
			Initializer: []onnxmodel.Tensor{w},
			Inputs:      []onnxmodel.ValueInfo{in("x", onnxmodel.Float, n, fd)},
			Outputs:     []onnxmodel.ValueInfo{in("y", onnxmodel.Float, n, onnxmodel.Dim{Value: 1})},
		}, "NoSuchOp"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := inference.LoadModel(encode(c.g), inference.Meta{Name: name}, inference.Options{})
			if !errors.Is(err, inference.ErrInvalidModel) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadModel: %v; want ErrInvalidModel saying %q", err, c.want)
			}
		})
	}
}

// TestLoadOtherShapes covers a model with a [N] output and one with a fixed batch size.
func TestLoadOtherShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	lr := onnxmodel.LogisticRegression{W: normals(r, width, 0.5), B: 0.25}
	ref := reference{predict: lr.Predict}
	f := int64(width)

	vector := onnxmodel.Graph{
		Nodes: []onnxmodel.Node{
			{OpType: "MatMul", Inputs: []string{"x", "w"}, Outputs: []string{"z"}},
			{OpType: "Add", Inputs: []string{"z", "b"}, Outputs: []string{"logit"}},
			{OpType: "Sigmoid", Inputs: []string{"logit"}, Outputs: []string{"p"}},
		},
		Initializer: []onnxmodel.Tensor{
			onnxmodel.FloatTensor("w", []int64{f}, lr.W),
			onnxmodel.FloatTensor("b", []int64{1}, []float32{lr.B}),
		},
		Inputs:  []onnxmodel.ValueInfo{{Name: "x", ElemType: onnxmodel.Float, Shape: []onnxmodel.Dim{{Param: "N"}, {Value: f}}}},
		Outputs: []onnxmodel.ValueInfo{{Name: "p", ElemType: onnxmodel.Float, Shape: []onnxmodel.Dim{{Param: "N"}}}},
	}
	lrModel, err := lr.Model()
	if err != nil {
		t.Fatal(err)
	}
	fixed := lrModel.Graph
	fixed.Inputs[0].Shape[0] = onnxmodel.Dim{Value: 4}
	fixed.Outputs[0].Shape[0] = onnxmodel.Dim{Value: 4}

	for name, g := range map[string]onnxmodel.Graph{"output [N]": vector, "fixed batch 4": fixed} {
		t.Run(name, func(t *testing.T) {
			ref.name, ref.onnx = name, encode(g)
			m := load(t, ref, inference.Meta{Name: name}, inference.Options{})
			for _, n := range []int{1, 3, 4, 9} {
				rows := randomRows(r, n)
				scores, err := m.Score(t.Context(), rows)
				if err != nil {
					t.Fatal(err)
				}
				checkScores(t, ref, rows, scores)
			}
		})
	}
}

func encode(g onnxmodel.Graph) []byte {
	m := onnxmodel.Model{IRVersion: onnxmodel.IRVersion, Opsets: []onnxmodel.OpsetID{{Version: onnxmodel.Opset}}, Graph: g}
	return m.Marshal()
}
