package inference

import "errors"

// Errors returned by the package, matched with errors.Is.
var (
	// ErrRuntimeUnavailable: the ONNX Runtime library is missing or cannot be loaded.
	ErrRuntimeUnavailable = errors.New("onnx runtime unavailable")
	// ErrRuntimeNotInitialized: InitRuntime has not succeeded yet.
	ErrRuntimeNotInitialized = errors.New("onnx runtime not initialized")
	// ErrInvalidModel: the bytes are not an ONNX model the runtime loads, or its inputs and
	// outputs are not one float32 [N, F] input and one float32 [N] or [N, 1] output.
	ErrInvalidModel = errors.New("invalid model")
	// ErrInputWidth: rows do not have the number of features the model expects.
	ErrInputWidth = errors.New("input width mismatch")
	// ErrModelNotLoaded: a Holder has no model to score with.
	ErrModelNotLoaded = errors.New("model not loaded")
	// ErrModelClosed: the model was closed.
	ErrModelClosed = errors.New("model closed")
)
