// Package tradeoffs fills the "choosing between patterns" table — batch view, speed
// view, online inference and edge against latency, update frequency, cost and
// freshness — and the Lambda-versus-Kappa comparison below it, from measurements of
// the running deployment: the process's own Prometheus metrics, sampled into a ring
// by a Recorder so that any window up to what the ring keeps can be differenced, and
// the run, replay and model records in PostgreSQL. A figure nothing measured yet is
// reported as missing (null), never as a constant.
package tradeoffs
