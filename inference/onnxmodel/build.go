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
// F inputs and H hidden units. It is the DeepMLP of those two layers.
type MLP struct {
	W1 []float32 // F×H, row-major: W1[i*H+j] links feature i to hidden unit j
	B1 []float32 // H
	W2 []float32 // H
	B2 float32
}

// Deep returns the MLP as a DeepMLP of two layers.
func (m MLP) Deep() DeepMLP {
	return DeepMLP{Layers: []Dense{{W: m.W1, B: m.B1}, {W: m.W2, B: []float32{m.B2}}}}
}

// Width returns the number of input features F.
func (m MLP) Width() (int, error) { return m.Deep().Width() }

// Model builds the ONNX graph MatMul → Add → Relu → MatMul → Add → Sigmoid.
func (m MLP) Model() (*Model, error) { return m.Deep().Model() }

// Predict evaluates the model on one row as DeepMLP.Predict does.
func (m MLP) Predict(x []float32) float32 { return m.Deep().Predict(x) }

// Dense is a fully connected layer x·W + B with In inputs and Out = len(B) outputs; W is
// In×Out, row-major: W[i*Out+j] links input i to output j.
type Dense struct {
	W, B []float32
}

// DeepMLP is a perceptron with ReLU hidden layers: every layer but the last is followed by
// a ReLU, the last has one output and a sigmoid. Each layer's inputs are the previous
// layer's outputs; the first layer's are the F features.
type DeepMLP struct {
	Layers []Dense
}

// Width returns the number of input features F.
func (m DeepMLP) Width() (int, error) {
	if len(m.Layers) < 2 {
		return 0, fmt.Errorf("mlp with %d layers, want at least a hidden and an output layer: %w", len(m.Layers), ErrShape)
	}
	in := -1
	for i := len(m.Layers) - 1; i >= 0; i-- {
		l := m.Layers[i]
		out := len(l.B)
		if out == 0 || len(l.W) == 0 || len(l.W)%out != 0 || (in >= 0 && out != in) || (in < 0 && out != 1) {
			return 0, fmt.Errorf("mlp layer %d with %d weights and %d biases after a layer of %d inputs: %w",
				i+1, len(l.W), out, in, ErrShape)
		}
		in = len(l.W) / out
	}
	return in, nil
}

// Model builds the ONNX graph (MatMul → Add → Relu)… → MatMul → Add → Sigmoid; layer i's
// weights and biases are named wi and bi, counting from 1.
func (m DeepMLP) Model() (*Model, error) {
	f, err := m.Width()
	if err != nil {
		return nil, err
	}
	g := Graph{Name: "mlp"}
	in := InputName
	for i, l := range m.Layers {
		n := int64(len(l.B))
		w, b := fmt.Sprintf("w%d", i+1), fmt.Sprintf("b%d", i+1)
		g.Initializer = append(g.Initializer,
			FloatTensor(w, []int64{int64(len(l.W)) / n, n}, l.W), FloatTensor(b, []int64{n}, l.B))
		if i == len(m.Layers)-1 {
			g.Nodes = append(g.Nodes, dense("out", in, w, b, "logit")...)
			break
		}
		name := fmt.Sprintf("hidden%d", i+1)
		g.Nodes = append(g.Nodes, dense(name, in, w, b, name+"_pre")...)
		g.Nodes = append(g.Nodes, Node{Name: name + "_relu", OpType: "Relu", Inputs: []string{name + "_pre"}, Outputs: []string{name}})
		in = name
	}
	g.Nodes = append(g.Nodes, Node{Name: "sigmoid", OpType: "Sigmoid", Inputs: []string{"logit"}, Outputs: []string{OutputName}})
	return newModel(g, f), nil
}

// Predict evaluates the model on one row, accumulating in float64 and rounding each layer's
// outputs to float32 as the graph does.
func (m DeepMLP) Predict(x []float32) float32 {
	var z float64
	for i, l := range m.Layers {
		n := len(l.B)
		out := make([]float32, n)
		for j := range n {
			a := float64(l.B[j])
			for k, xk := range x {
				a += float64(xk) * float64(l.W[k*n+j])
			}
			if i == len(m.Layers)-1 {
				z = a
			}
			out[j] = float32(max(a, 0))
		}
		x = out
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
