// Package registry keeps the platform's models in PostgreSQL: named models, their
// numbered versions, and per version one ONNX file per variant (fp32 and its int8
// quantisation), in the tables of migrations 0003 and 0004.
//
// Register adds a version (numbered 1, 2, … per model) after checking each file on the
// way in, before anything is stored: its signature (inference.Inspect) must be one float
// input whose width is the number of feature names and one score per row, and the ONNX
// Runtime must load it (a trial load, so the process must have called
// inference.InitRuntime). AddArtifact adds a variant to an existing version. Activate
// makes a version the one the scorers use and records it in the activation history;
// Rollback reactivates the version that was active before the current one, and again
// walks further back. Every change of a model's active version sends a PostgreSQL
// notification on Channel. Load loads a version's file into an inference.Model ready to
// score: every scorer of the platform loads its models through it.
//
// A Watcher keeps an inference.Holder on the active version of one model: it loads the
// new version and swaps it in as soon as a notification arrives, and polls as a fallback,
// so scoring never stops while versions change.
//
// Metrics (NewMetrics), labelled by model:
//   - lambda_inference_model_swaps_total: versions a watcher swapped in
//   - lambda_inference_model_sync_errors_total: failed attempts to read or load the active version
//   - lambda_inference_model_loaded_version: the version a watcher's holder serves
package registry
