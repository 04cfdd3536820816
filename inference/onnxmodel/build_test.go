package onnxmodel_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

func TestPredict(t *testing.T) {
	lr := onnxmodel.LogisticRegression{W: []float32{1, -2}, B: 0.5}
	if got, want := lr.Predict([]float32{3, 1}), float32(1/(1+math.Exp(-1.5))); got != want {
		t.Errorf("LR Predict = %v, want %v", got, want)
	}
	// Two hidden units, one cut by the ReLU: relu(1·2+0·1-1)=1, relu(-3+0)=0.
	mlp := onnxmodel.MLP{W1: []float32{1, -3, 0, 5}, B1: []float32{-1, 0}, W2: []float32{2, 7}, B2: -1}
	if got, want := mlp.Predict([]float32{2, 0}), float32(1/(1+math.Exp(-1))); got != want {
		t.Errorf("MLP Predict = %v, want %v", got, want)
	}
}

func TestBuilders(t *testing.T) {
	mlp := onnxmodel.MLP{W1: make([]float32, 6), B1: make([]float32, 2), W2: make([]float32, 2)}
	m, err := mlp.Model()
	if err != nil {
		t.Fatal(err)
	}
	in := m.Graph.Inputs[0]
	if in.Name != onnxmodel.InputName || in.Shape.String() != "[N, 3]" || m.Graph.Outputs[0].Shape.String() != "[N, 1]" {
		t.Fatalf("MLP signature %s %s -> %s", in.Name, in.Shape, m.Graph.Outputs[0].Shape)
	}
	var ops []string
	for _, n := range m.Graph.Nodes {
		ops = append(ops, n.OpType)
	}
	if got := ops; len(got) != 6 || got[0] != "MatMul" || got[2] != "Relu" || got[5] != "Sigmoid" {
		t.Fatalf("MLP nodes %v", got)
	}

	for name, bad := range map[string]interface {
		Model() (*onnxmodel.Model, error)
	}{
		"lr without weights": onnxmodel.LogisticRegression{},
		"mlp W1 not F×H":     onnxmodel.MLP{W1: make([]float32, 5), B1: make([]float32, 2), W2: make([]float32, 2)},
		"mlp W2 not H":       onnxmodel.MLP{W1: make([]float32, 4), B1: make([]float32, 2), W2: make([]float32, 3)},
		"mlp without hidden": onnxmodel.MLP{W1: make([]float32, 4)},
	} {
		if _, err := bad.Model(); !errors.Is(err, onnxmodel.ErrShape) {
			t.Errorf("%s: %v, want ErrShape", name, err)
		}
	}
}

func TestDeepMLP(t *testing.T) {
	// 2 features → 2 → 2 → 1: relu(2-1, -6+0) = (1, 0); relu(1·1+0·2, 1·-1+0) = (1, 0); 1·3-2 = 1.
	deep := onnxmodel.DeepMLP{Layers: []onnxmodel.Dense{
		{W: []float32{1, -3, 0, 5}, B: []float32{-1, 0}},
		{W: []float32{1, -1, 2, 0}, B: []float32{0, 0}},
		{W: []float32{3, 4}, B: []float32{-2}},
	}}
	if got, want := deep.Predict([]float32{2, 0}), float32(1/(1+math.Exp(-1))); got != want {
		t.Errorf("DeepMLP Predict = %v, want %v", got, want)
	}
	m, err := deep.Model()
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range m.Graph.Nodes {
		ops = append(ops, n.OpType)
	}
	if want := "[MatMul Add Relu MatMul Add Relu MatMul Add Sigmoid]"; fmt.Sprint(ops) != want || m.Graph.Inputs[0].Shape.String() != "[N, 2]" {
		t.Errorf("DeepMLP nodes %v, input %s; want %s, [N, 2]", ops, m.Graph.Inputs[0].Shape, want)
	}
	for name, layers := range map[string][]onnxmodel.Dense{
		"one layer":              deep.Layers[2:],
		"hidden widths disagree": {deep.Layers[0], {W: make([]float32, 6), B: make([]float32, 2)}, deep.Layers[2]},
		"two outputs":            deep.Layers[:2],
	} {
		if _, err := (onnxmodel.DeepMLP{Layers: layers}).Model(); !errors.Is(err, onnxmodel.ErrShape) {
			t.Errorf("%s: %v, want ErrShape", name, err)
		}
	}
}
