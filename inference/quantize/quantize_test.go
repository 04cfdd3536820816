package quantize_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/quantize"
)

// TestWideLayer quantises a 256×256 dense layer (plus its 256×1 output layer) and scores
// 2000 rows of standard normal features on the real runtime.
func TestWideLayer(t *testing.T) {
	const width, hidden, rows = 256, 256, 2000
	fp32 := ortenv.ONNX(t, wideMLP(t, width, hidden, 1))
	sample := normals(rand.New(rand.NewPCG(2, 2)), rows*width, 1)
	for mode, maxDelta := range map[quantize.Mode]float64{quantize.WeightOnly: 0.01, quantize.Dynamic: 0.02} {
		int8, err := quantize.Quantize(fp32, mode)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		r, err := quantize.Evaluate(t.Context(), fp32, int8, sample, width)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		t.Logf("%s: %s", mode, r)
		if r.SizeRatio() < 3.5 || r.MaxAbsDelta > maxDelta || r.Rows != rows {
			t.Errorf("%s: %s; want ≥ 3.5× smaller and max |Δ| ≤ %g over %d rows", mode, r, maxDelta, rows)
		}
	}
}

// TestUnusedFeatures quantises a model that ignores a feature of huge values: its zero
// weights must keep it out of the activations' range in Dynamic.
func TestUnusedFeatures(t *testing.T) {
	const width, rows = 3, 1000
	lr := onnxmodel.LogisticRegression{W: []float32{0.01, 0, -0.5}, B: 0.2}
	fp32 := ortenv.ONNX(t, lr)
	r := rand.New(rand.NewPCG(3, 3))
	sample := make([]float32, 0, rows*width)
	for range rows {
		sample = append(sample, float32(r.NormFloat64()*100), float32(r.Float64()*1e6), float32(r.NormFloat64()))
	}
	for _, mode := range quantize.Modes {
		int8, err := quantize.Quantize(fp32, mode)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := quantize.Evaluate(t.Context(), fp32, int8, sample, width)
		if err != nil {
			t.Fatal(err)
		}
		if rep.MaxAbsDelta > 0.01 {
			t.Errorf("%s: %s; want max |Δ| ≤ 0.01", mode, rep)
		}
	}
}

func TestGraph(t *testing.T) {
	fp32 := ortenv.ONNX(t, wideMLP(t, 8, 16, 1))
	for _, mode := range quantize.Modes {
		b, err := quantize.Quantize(fp32, mode)
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnxmodel.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		var int8s []string
		for _, init := range m.Graph.Initializer {
			switch {
			case (init.DataType == onnxmodel.Int8 || init.DataType == onnxmodel.Uint8) && len(init.Dims) == 2:
				int8s = append(int8s, init.Name)
			case init.DataType == onnxmodel.Float && len(init.Dims) == 2 && init.Dims[1] > 1:
				t.Errorf("%s: float weight %s %v left", mode, init.Name, init.Dims)
			}
		}
		if len(int8s) != 2 {
			t.Errorf("%s: int8 weights %v, want one per MatMul", mode, int8s)
		}
		if !slices.Contains(m.Metadata, onnxmodel.StringEntry{Key: quantize.MetadataKey, Value: "int8 " + string(mode)}) {
			t.Errorf("%s: metadata %v lacks the mode", mode, m.Metadata)
		}
		sig, err := inference.Inspect(b)
		if err != nil || sig.Width != 8 || sig.Input != onnxmodel.InputName || sig.Output != onnxmodel.OutputName {
			t.Errorf("%s: signature %+v, %v; want the fp32 model's", mode, sig, err)
		}
		if _, err := quantize.Quantize(b, mode); !errors.Is(err, quantize.ErrUnsupported) {
			t.Errorf("%s: quantising again: %v, want ErrUnsupported", mode, err)
		}
	}
}

func TestErrors(t *testing.T) {
	mlp := wideMLP(t, 4, 4, 1)
	fp32 := ortenv.ONNX(t, mlp)
	old, err := onnxmodel.Decode(fp32)
	if err != nil {
		t.Fatal(err)
	}
	old.Opsets = []onnxmodel.OpsetID{{Version: 11}}
	noMatMul := &onnxmodel.Model{IRVersion: onnxmodel.IRVersion, Opsets: []onnxmodel.OpsetID{{Version: onnxmodel.Opset}}, Graph: onnxmodel.Graph{
		Nodes:   []onnxmodel.Node{{OpType: "Sigmoid", Inputs: []string{"x"}, Outputs: []string{"y"}}},
		Inputs:  []onnxmodel.ValueInfo{{Name: "x", ElemType: onnxmodel.Float, Shape: onnxmodel.Shape{{Param: "N"}, {Value: 1}}}},
		Outputs: []onnxmodel.ValueInfo{{Name: "y", ElemType: onnxmodel.Float, Shape: onnxmodel.Shape{{Param: "N"}, {Value: 1}}}},
	}}
	mlp.W1 = slices.Clone(mlp.W1)
	mlp.W1[5] = float32(math.NaN())
	for name, c := range map[string]struct {
		onnx []byte
		mode quantize.Mode
		want error
	}{
		"not onnx":     {[]byte("onnx"), quantize.WeightOnly, onnxmodel.ErrMalformed},
		"unknown mode": {fp32, "int4", quantize.ErrUnknownMode},
		"opset 11":     {old.Marshal(), quantize.WeightOnly, quantize.ErrUnsupported},
		"no matmul":    {noMatMul.Marshal(), quantize.Dynamic, quantize.ErrNothingToQuantize},
		"nan weight":   {ortenv.ONNX(t, mlp), quantize.WeightOnly, quantize.ErrUnsupported},
	} {
		if _, err := quantize.Quantize(c.onnx, c.mode); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := quantize.ParseMode("int4"); !errors.Is(err, quantize.ErrUnknownMode) {
		t.Errorf("ParseMode(int4): %v, want ErrUnknownMode", err)
	}
}

// TestOpsets quantises a model declaring each opset from the oldest supported on (ReduceMax
// takes its axes as an input from 18) and runs both modes on the real runtime.
func TestOpsets(t *testing.T) {
	const width, rows = 16, 500
	sample := normals(rand.New(rand.NewPCG(4, 4)), rows*width, 1)
	for _, opset := range []int64{13, onnxmodel.Opset, 18, 21} {
		m, err := wideMLP(t, width, 32, 1).Model()
		if err != nil {
			t.Fatal(err)
		}
		m.Opsets = []onnxmodel.OpsetID{{Version: opset}}
		m.IRVersion = max(m.IRVersion, 10)
		fp32 := m.Marshal()
		for _, mode := range quantize.Modes {
			_, rep, err := quantize.QuantizeAndEvaluate(t.Context(), fp32, mode, sample, width)
			if err != nil {
				t.Fatalf("opset %d %s: %v", opset, mode, err)
			}
			if rep.MaxAbsDelta > 0.02 {
				t.Errorf("opset %d %s: %s; want max |Δ| ≤ 0.02", opset, mode, rep)
			}
		}
	}
}
