package inference

// Signature is what a model takes and returns, as LoadModel reads it: one float32 input of
// shape [N, Width] and one float32 output of shape [N] or [N, 1].
type Signature struct {
	Input, Output string
	// Width is the number of features per row, F.
	Width int
	// Batch is the fixed batch size N, 0 when N is dynamic.
	Batch int
}

// Inspect reads the signature of an ONNX model without the runtime, with the checks
// LoadModel applies; errors wrap ErrInvalidModel. The model registry validates uploads with
// it, on machines that need no ONNX Runtime.
func Inspect(onnx []byte) (Signature, error) {
	sig, err := readSignature(onnx)
	if err != nil {
		return Signature{}, err
	}
	return Signature{Input: sig.input, Output: sig.output, Width: sig.width, Batch: sig.batch}, nil
}
