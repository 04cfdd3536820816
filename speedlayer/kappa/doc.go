// Package kappa runs Kappa replays (Kreps, "Questioning the Lambda Architecture"): a
// replay is the speed layer's consumer with no batch run under it — every delta starts
// at offset 0, so its view (kappa_view_<id>, package internal/replays) is the fold of
// the whole log — in a consumer group of its own, lambda-kappa-<id>, scoring with the
// replay's model and feature spec.
//
// A Manager runs a job for every replay that is replaying, ready or live, and stops the
// others'. While a job replays, it records its progress (offsets committed of those in
// the log, events/s, and per partition the last offset committed, which readers take as
// the view's coverage) every Config.ProgressEvery, every Config.Poll once caught up. Once
// its group has committed every offset of the log it marks the replay ready, which switches readers to it when the
// replay asked for that (replays.MarkReady). A retired, stopped or failed replay's view
// is dropped Config.DropGrace after it ended, time for every reader to follow the
// switch. A job that cannot start (bad spec, model missing) fails its replay; one whose
// consumer ended on its own is started again at the next reconcile.
//
// # Metrics
//
//	lambda_kappa_replay_offsets{replay,kind}            gauge  kind=done: offsets committed; kind=total: in the log
//	lambda_kappa_replay_events_per_second{replay}       gauge  offsets committed per second, over the last interval
//	lambda_kappa_replay_eta_seconds{replay}             gauge  offsets left / events per second (while replaying)
//	lambda_kappa_jobs                                   gauge  jobs running in this process
//
// The replays' models report their ONNX Runtime runs as package inference documents
// (lambda_inference_run_*).
package kappa
