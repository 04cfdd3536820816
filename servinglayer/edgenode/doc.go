// Package edgenode mirrors the active models of an upstream platform onto a node at
// the network edge, which scores them locally and keeps scoring when the upstream is
// unreachable (`lambda edge`).
//
// A Mirror polls each model's manifest (GET /v1/models/{name}) with If-None-Match,
// downloads the files of the active version, checks their size and sha256 against the
// manifest, loads the scoring variant into the ONNX Runtime, writes the version to its
// directory on disk and only then swaps it in: a download that fails, or whose bytes
// do not match, leaves the version in service untouched. On start it serves what the
// directory holds, verified again, before the upstream has answered.
//
// The Mirror is the serving layer's model registry and scorers on the node
// (servinglayer.Models and servinglayer.Scorers), read-only, holding one version per
// model: the one that was active upstream at the last successful sync.
//
// Metrics (on the Registerer given to New):
//   - lambda_edge_model_version{model}: the version served.
//   - lambda_edge_model_swaps_total{model}: versions swapped in after a sync.
//   - lambda_edge_last_sync_timestamp_seconds: when every mirrored model last matched
//     the upstream (restored from disk on start).
//   - lambda_edge_last_sync_age_seconds: seconds since then; -1 before any sync.
//   - lambda_edge_sync_errors_total{reason}: failed syncs, by reason: unreachable
//     (no answer), status (an unexpected HTTP status), manifest (a manifest without
//     an active version or the variant scored with), checksum (a file whose size or
//     sha256 is not the manifest's), load (the ONNX Runtime refused the file), disk.
package edgenode
