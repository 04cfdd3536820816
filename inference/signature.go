package inference

import (
	"fmt"
	"slices"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

// signature is what scoring needs to know about a model's input and output.
type signature struct {
	input, output string
	width         int // features per row, F
	batch         int // fixed batch size N, 0 when N is dynamic
	outputRank    int // 1 for [N], 2 for [N, 1]
}

// readSignature decodes the model's graph inputs and outputs and checks that they are one
// float32 [N, F] input and one float32 [N] or [N, 1] output. It reads the file in Go rather
// than through a throwaway runtime session; the sessions created next check the rest.
func readSignature(onnx []byte) (signature, error) {
	m, err := onnxmodel.Decode(onnx)
	if err != nil {
		return signature{}, fmt.Errorf("%w: %w", ErrInvalidModel, err)
	}
	g := m.Graph
	// Graph inputs that have an initializer are constants (IR < 4 lists them), not features.
	ins := slices.DeleteFunc(slices.Clone(g.Inputs), func(v onnxmodel.ValueInfo) bool {
		return slices.ContainsFunc(g.Initializer, func(t onnxmodel.Tensor) bool { return t.Name == v.Name })
	})
	if len(ins) != 1 || len(g.Outputs) != 1 {
		return signature{}, fmt.Errorf("%w: %d inputs and %d outputs, want one of each", ErrInvalidModel, len(ins), len(g.Outputs))
	}
	in, out := ins[0], g.Outputs[0]
	for _, v := range []onnxmodel.ValueInfo{in, out} {
		if v.ElemType != onnxmodel.Float {
			return signature{}, fmt.Errorf("%w: %q has element type %s, want FLOAT", ErrInvalidModel, v.Name, v.ElemType)
		}
	}
	if len(in.Shape) != 2 || in.Shape[1].Value <= 0 {
		return signature{}, fmt.Errorf("%w: input %q has shape %v, want [N, F] with a fixed F", ErrInvalidModel, in.Name, in.Shape)
	}
	inBatch, outShape := in.Shape[0].Value, out.Shape
	rowsOK := len(outShape) > 0 && (outShape[0].Value == inBatch || outShape[0].Value <= 0 || inBatch <= 0)
	if !rowsOK || len(outShape) > 2 || (len(outShape) == 2 && outShape[1].Value != 1) {
		return signature{}, fmt.Errorf("%w: output %q has shape %v, want [N] or [N, 1] for input shape %v",
			ErrInvalidModel, out.Name, outShape, in.Shape)
	}
	return signature{
		input:      in.Name,
		output:     out.Name,
		width:      int(in.Shape[1].Value),
		batch:      int(max(inBatch, 0)),
		outputRank: len(outShape),
	}, nil
}
