// Package inference scores feature rows with ONNX models on the real ONNX Runtime.
//
// InitRuntime loads the shared library once per process. LoadModel turns the bytes of an ONNX
// file plus its Meta (the unit the model registry stores) into a Model: a pool of ONNX
// Runtime sessions with preallocated input and output buffers that scores many rows per run
// and is safe for concurrent use. A Holder serves one Model at a time and swaps to a new
// version without failing or blocking a request: the old model closes once its in-flight
// calls have ended.
//
// A model has one float32 input of shape [N, F], N dynamic (or fixed, in which case every run
// is padded to N rows), and one float32 output of shape [N] or [N, 1]: one score per row.
// Package onnxmodel builds such models and reads ONNX files without the runtime.
//
// # Metrics
//
// With Options.Observer set to a RunMetrics, every run is exported:
//
//	lambda_inference_run_duration_seconds  histogram  duration of one ONNX Runtime run, by model
//	lambda_inference_run_rows              histogram  rows computed by one run (its batch size), by model
//
// Package registry exports the watchers' model versions (lambda_inference_model_*).
package inference
