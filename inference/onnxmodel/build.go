package onnxmodel

import (
	"errors"
	"fmt"
	"math"
)

// Names in the graphs the builders produce.
const (
	InputName  = "features" // input, float32 [N, F]
	OutputName = "score"    // output, float32 [N, 1], a probability
	BatchDim   = "N"        // symbolic batch dimension of input and output
	producer   = "lambda"
)

// ErrShape is returned for weights whose sizes do not fit together.
var ErrShape = errors.New("inconsistent weight shapes")

// LogisticRegression is score = sigmoid(x·W + B).
type LogisticRegression struct {
	W []float32 // one weight per feature
	B float32
}

// Model builds the ONNX graph MatMul → Add → Sigmoid.
func (lr LogisticRegression) Model() (*Model, error) {
	f := len(lr.W)
	if f == 0 {
		return nil, fmt.Errorf("logistic regression without weights: %w", ErrShape)
	}
	g := Graph{
		Name: "logistic_regression",
		Initializer: []Tensor{
			FloatTensor("w", []int64{int64(f), 1}, lr.W),
			FloatTensor("b", []int64{1}, []float32{lr.B}),
		},
	}
	g.Nodes = append(g.Nodes, dense("out", InputName, "w", "b", "logit")...)
	g.Nodes = append(g.Nodes, Node{Name: "sigmoid", OpType: "Sigmoid", Inputs: []string{"logit"}, Outputs: []string{OutputName}})
	return newModel(g, f), nil
}

// Predict evaluates the model on one row in float64 and rounds the result to float32.
func (lr LogisticRegression) Predict(x []float32) float32 {
	z := float64(lr.B)
	for i, w := range lr.W {
		z += float64(w) * float64(x[i])
	}
	return sigmoid(z)
}

// MLP is a perceptron with one hidden ReLU layer: score = sigmoid(relu(x·W1 + B1)·W2 + B2),
// F inputs and H hidden units.
type MLP struct {
	W1 []float32 // F×H, row-major: W1[i*H+j] links feature i to hidden unit j
	B1 []float32 // H
	W2 []float32 // H
	B2 float32
}

// Width returns the number of input features F.
func (m MLP) Width() (int, error) {
	h := len(m.B1)
	if h == 0 || len(m.W1) == 0 || len(m.W1)%h != 0 || len(m.W2) != h {
		return 0, fmt.Errorf("mlp with %d input weights, %d hidden biases, %d output weights: %w",
			len(m.W1), len(m.B1), len(m.W2), ErrShape)
	}
	return len(m.W1) / h, nil
}

// Model builds the ONNX graph MatMul → Add → Relu → MatMul → Add → Sigmoid.
func (m MLP) Model() (*Model, error) {
	f, err := m.Width()
	if err != nil {
		return nil, err
	}
	h := int64(len(m.B1))
	g := Graph{
		Name: "mlp",
		Initializer: []Tensor{
			FloatTensor("w1", []int64{int64(f), h}, m.W1),
			FloatTensor("b1", []int64{h}, m.B1),
			FloatTensor("w2", []int64{h, 1}, m.W2),
			FloatTensor("b2", []int64{1}, []float32{m.B2}),
		},
	}
	g.Nodes = append(g.Nodes, dense("hidden", InputName, "w1", "b1", "hidden_pre")...)
	g.Nodes = append(g.Nodes, Node{Name: "relu", OpType: "Relu", Inputs: []string{"hidden_pre"}, Outputs: []string{"hidden"}})
	g.Nodes = append(g.Nodes, dense("out", "hidden", "w2", "b2", "logit")...)
	g.Nodes = append(g.Nodes, Node{Name: "sigmoid", OpType: "Sigmoid", Inputs: []string{"logit"}, Outputs: []string{OutputName}})
	return newModel(g, f), nil
}

// Predict evaluates the model on one row, accumulating in float64 and rounding each layer's
// outputs to float32 as the graph does.
func (m MLP) Predict(x []float32) float32 {
	h := len(m.B1)
	z := float64(m.B2)
	for j := range h {
		a := float64(m.B1[j])
		for i, xi := range x {
			a += float64(xi) * float64(m.W1[i*h+j])
		}
		z += float64(float32(max(a, 0))) * float64(m.W2[j])
	}
	return sigmoid(z)
}

// dense returns MatMul(in, w) → Add(b) → out; MatMul and Add stay separate nodes so that
// quantisers find the MatMul.
func dense(name, in, w, b, out string) []Node {
	return []Node{
		{Name: name + "_matmul", OpType: "MatMul", Inputs: []string{in, w}, Outputs: []string{name + "_mm"}},
		{Name: name + "_add", OpType: "Add", Inputs: []string{name + "_mm", b}, Outputs: []string{out}},
	}
}

// newModel wraps a graph with the standard input [N, width] and output [N, 1].
func newModel(g Graph, width int) *Model {
	g.Inputs = []ValueInfo{{Name: InputName, ElemType: Float, Shape: []Dim{{Param: BatchDim}, {Value: int64(width)}}}}
	g.Outputs = []ValueInfo{{Name: OutputName, ElemType: Float, Shape: []Dim{{Param: BatchDim}, {Value: 1}}}}
	return &Model{
		IRVersion:    IRVersion,
		Opsets:       []OpsetID{{Version: Opset}},
		ProducerName: producer,
		Graph:        g,
	}
}

func sigmoid(z float64) float32 {
	return float32(1 / (1 + math.Exp(-z)))
}
