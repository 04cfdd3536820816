package quantize

import (
	"encoding/binary"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

// layer is one MatMul out = x · W being replaced; prefix names the values it adds.
// axesInput: the opset's ReduceMax takes its axes as an input.
type layer struct {
	x, out, prefix string
	w              weights
	axesInput      bool
}

func (l layer) name(s string) string { return l.prefix + "_" + s }

// nodes returns the graph that computes out from x with the quantised weights. Each node is
// named after its first output, which is unique in the graph.
func (l layer) nodes(mode Mode) []onnxmodel.Node {
	var nodes []onnxmodel.Node
	add := func(op string, in []string, out []string, attrs ...onnxmodel.Attribute) {
		nodes = append(nodes, onnxmodel.Node{Name: out[0], OpType: op, Inputs: in, Outputs: out, Attributes: attrs})
	}
	if mode == WeightOnly {
		w := l.name("wf")
		if l.w.rows != nil {
			w = l.name("wcols")
		}
		// Cast and Mul rather than DequantizeLinear: ONNX Runtime folds them into a float
		// weight when it loads the model, where it keeps DequantizeLinear and runs it on
		// every call.
		add("Cast", []string{l.name("w")}, []string{l.name("wq")},
			onnxmodel.Attribute{Name: "to", Type: onnxmodel.AttrInt, I: int64(onnxmodel.Float)})
		add("Mul", []string{l.name("wq"), l.name("cols")}, []string{w})
		if l.w.rows != nil {
			add("Mul", []string{w, l.name("rows")}, []string{l.name("wf")})
		}
		add("MatMul", []string{l.x, l.name("wf")}, []string{l.out})
		return nodes
	}
	x := l.x
	if l.w.rows != nil {
		x = l.name("xrows")
		add("Mul", []string{l.x, l.name("rows")}, []string{x})
	}
	// Per-row activation scales: each row is divided by its own largest |x| (never below
	// tiny, so an all-zero row stays zero), quantised to uint8 around 128 with the step
	// 1/127, multiplied with the 8-bit weights in int32, and scaled back by that largest
	// |x| and the columns' scales (stored divided by 127).
	add("Abs", []string{x}, []string{l.name("xabs")})
	keepdims := onnxmodel.Attribute{Name: "keepdims", Type: onnxmodel.AttrInt, I: 1}
	if l.axesInput {
		add("ReduceMax", []string{l.name("xabs"), l.name("axes")}, []string{l.name("xmax")}, keepdims)
	} else {
		add("ReduceMax", []string{l.name("xabs")}, []string{l.name("xmax")}, keepdims,
			onnxmodel.Attribute{Name: "axes", Type: onnxmodel.AttrInts, Ints: []int64{1}})
	}
	add("Max", []string{l.name("xmax"), l.name("tiny")}, []string{l.name("xscale")})
	add("Div", []string{x, l.name("xscale")}, []string{l.name("xnorm")})
	add("QuantizeLinear", []string{l.name("xnorm"), l.name("step"), l.name("xzero")}, []string{l.name("xq")})
	add("MatMulInteger", []string{l.name("xq"), l.name("w"), l.name("xzero"), l.name("wzero")}, []string{l.name("acc")})
	add("Cast", []string{l.name("acc")}, []string{l.name("accf")},
		onnxmodel.Attribute{Name: "to", Type: onnxmodel.AttrInt, I: int64(onnxmodel.Float)})
	add("Mul", []string{l.name("accf"), l.name("xscale")}, []string{l.name("accrow")})
	add("Mul", []string{l.name("accrow"), l.name("cols")}, []string{l.out})
	return nodes
}

// initializers returns the 8-bit weights and their scales. Row scales, when the weights
// have them, multiply the weights' rows in WeightOnly ([k, 1]) and the input's columns in
// Dynamic ([k]). The weights are symmetric: int8 with zero point 0 in WeightOnly; in
// Dynamic, for MatMulInteger, the same values offset into uint8 with zero point 128 (see
// u8u8), named with the constants of its per-row activation quantisation.
func (l layer) initializers(mode Mode) []onnxmodel.Tensor {
	k, n := int64(l.w.k), int64(l.w.n)
	w := onnxmodel.Tensor{Name: l.name("w"), DataType: onnxmodel.Int8, Dims: []int64{k, n}, RawData: l.w.q}
	cols := l.w.cols
	if mode == Dynamic {
		w.DataType, w.RawData = onnxmodel.Uint8, u8u8(l.w.q)
		cols = make([]float32, n)
		for j, c := range l.w.cols {
			cols[j] = c / qmax
		}
	}
	ts := []onnxmodel.Tensor{w, onnxmodel.FloatTensor(l.name("cols"), []int64{n}, cols)}
	rowDims := []int64{k, 1}
	if mode == Dynamic {
		rowDims = []int64{k}
		ts = append(ts,
			onnxmodel.Tensor{Name: l.name("wzero"), DataType: onnxmodel.Uint8, RawData: []byte{128}},
			onnxmodel.Tensor{Name: l.name("xzero"), DataType: onnxmodel.Uint8, RawData: []byte{128}},
			onnxmodel.FloatTensor(l.name("step"), nil, []float32{1.0 / qmax}),
			onnxmodel.FloatTensor(l.name("tiny"), nil, []float32{tinyScale}))
		if l.axesInput {
			ts = append(ts, onnxmodel.Tensor{Name: l.name("axes"), DataType: onnxmodel.Int64, Dims: []int64{1}, RawData: binary.LittleEndian.AppendUint64(nil, 1)})
		}
	}
	if l.w.rows != nil {
		ts = append(ts, onnxmodel.FloatTensor(l.name("rows"), rowDims, l.w.rows))
	}
	return ts
}

// u8u8 returns the int8 weights q as uint8 offset by 128 (the sign bit flipped), for a
// MatMulInteger of uint8 activations and uint8 weights, which ONNX Runtime computes
// exactly. With int8 weights (u8s8), x86 CPUs without VNNI (AVX2, AVX-512 without it)
// add pairs of uint8 × int8 products in 16 bits that saturate (VPMADDUBSW: 2 × 255 × 127
// > 32767): on such a CPU the dynamic variant of a trained MLP scored up to 0.54 from
// the fp32 model (0.03 allowed).
func u8u8(q []byte) []byte {
	out := make([]byte, len(q))
	for i, v := range q {
		out[i] = v ^ 0x80
	}
	return out
}

// tinyScale is the least per-row activation scale in Dynamic: an all-zero row divides by it
// and stays zero instead of becoming NaN.
const tinyScale = 1e-30
