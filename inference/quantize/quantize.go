package quantize

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

// Mode is the graph form of the quantised MatMuls; see the package doc.
type Mode string

// The modes.
const (
	WeightOnly Mode = "weight-only"
	Dynamic    Mode = "dynamic"
)

// Modes lists the modes, the default first: WeightOnly, as fast as fp32 once loaded and the
// more accurate of the two, since only the weights are rounded.
var Modes = []Mode{WeightOnly, Dynamic}

// Errors returned by the package, matched with errors.Is.
var (
	// ErrUnknownMode: the mode is not one of Modes.
	ErrUnknownMode = errors.New("unknown quantization mode")
	// ErrNothingToQuantize: the model has no MatMul with a constant 2-D float32 weight.
	ErrNothingToQuantize = errors.New("no matmul with constant float weights")
	// ErrUnsupported: the model cannot be quantised as it is (opset too old, weights not
	// finite, already quantised).
	ErrUnsupported = errors.New("model not supported by the quantizer")
)

// minOpset is the default-domain opset the rewritten graph is written for (Cast, Mul,
// QuantizeLinear, MatMulInteger, ReduceMax); from reduceAxesInputOpset on, ReduceMax takes
// its axes as an input instead of an attribute.
const (
	minOpset             = 13
	reduceAxesInputOpset = 18
)

// MetadataKey is the metadata_props key under which the quantised file records its mode.
const MetadataKey = "lambda.quantization"

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	if m := Mode(s); slices.Contains(Modes, m) {
		return m, nil
	}
	return "", fmt.Errorf("%w %q: want one of %v", ErrUnknownMode, s, Modes)
}

// Quantize returns the INT8 variant of the fp32 ONNX model in onnx: same inputs and outputs,
// every MatMul with constant float32 weights rewritten in the given mode. Errors wrap
// onnxmodel.ErrMalformed for bytes that are not ONNX, or one of the errors above.
func Quantize(onnx []byte, mode Mode) ([]byte, error) {
	if !slices.Contains(Modes, mode) {
		return nil, fmt.Errorf("%w %q", ErrUnknownMode, mode)
	}
	m, err := onnxmodel.Decode(onnx)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	opset, err := checkModel(m)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if err := rewrite(&m.Graph, mode, opset); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	m.Metadata = append(m.Metadata, onnxmodel.StringEntry{Key: MetadataKey, Value: "int8 " + string(mode)})
	return m.Marshal(), nil
}

// checkModel returns the model's default-domain opset, or why it cannot be quantised.
func checkModel(m *onnxmodel.Model) (int64, error) {
	for _, e := range m.Metadata {
		if e.Key == MetadataKey {
			return 0, fmt.Errorf("%w: already quantised (%s)", ErrUnsupported, e.Value)
		}
	}
	var opset int64
	for _, o := range m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			opset = o.Version
		}
	}
	if opset < minOpset {
		return 0, fmt.Errorf("%w: opset %d, need %d or later", ErrUnsupported, opset, minOpset)
	}
	return opset, nil
}

// rewrite replaces every MatMul with constant weights by its quantised form, written for
// the default-domain opset, and drops the float weights no node reads any more.
func rewrite(g *onnxmodel.Graph, mode Mode, opset int64) error {
	consts := constants(g)
	var nodes []onnxmodel.Node
	var quantised int
	for _, n := range g.Nodes {
		w, ok := consts[weightName(n)]
		if !ok {
			nodes = append(nodes, n)
			continue
		}
		values, err := w.Floats()
		if err != nil {
			return fmt.Errorf("node %q: %w", n.Name, err)
		}
		if slices.ContainsFunc(values, func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }) {
			return fmt.Errorf("%w: weight %q is not finite", ErrUnsupported, w.Name)
		}
		qw := quantizeWeights(values, int(w.Dims[0]), int(w.Dims[1]))
		l := layer{x: n.Inputs[0], out: n.Outputs[0], prefix: n.Outputs[0] + "_q", w: qw, axesInput: opset >= reduceAxesInputOpset}
		lm := mode
		if slices.ContainsFunc(g.Inputs, func(v onnxmodel.ValueInfo) bool { return v.Name == l.x }) {
			lm = WeightOnly // raw features: see the package doc
		}
		nodes = append(nodes, l.nodes(lm)...)
		g.Initializer = append(g.Initializer, l.initializers(lm)...)
		quantised++
	}
	if quantised == 0 {
		return ErrNothingToQuantize
	}
	g.Nodes = nodes
	g.Initializer = slices.DeleteFunc(g.Initializer, func(t onnxmodel.Tensor) bool { return !used(g, t.Name) })
	return nil
}

// constants returns the 2-D float32 initializers that are not also graph inputs (which a
// caller could override), by name.
func constants(g *onnxmodel.Graph) map[string]onnxmodel.Tensor {
	out := map[string]onnxmodel.Tensor{}
	for _, t := range g.Initializer {
		overridable := slices.ContainsFunc(g.Inputs, func(v onnxmodel.ValueInfo) bool { return v.Name == t.Name })
		if t.DataType == onnxmodel.Float && len(t.Dims) == 2 && t.Dims[0] > 0 && t.Dims[1] > 0 && !overridable {
			out[t.Name] = t
		}
	}
	return out
}

// weightName is the second input of a default-domain MatMul, "" for any other node.
func weightName(n onnxmodel.Node) string {
	if n.OpType != "MatMul" || (n.Domain != "" && n.Domain != "ai.onnx") || len(n.Inputs) != 2 || len(n.Outputs) != 1 {
		return ""
	}
	return n.Inputs[1]
}

// used reports whether a node or a graph output reads the value name.
func used(g *onnxmodel.Graph, name string) bool {
	for _, n := range g.Nodes {
		if slices.Contains(n.Inputs, name) {
			return true
		}
	}
	return slices.ContainsFunc(g.Outputs, func(v onnxmodel.ValueInfo) bool { return v.Name == name })
}
