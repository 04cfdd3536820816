// Package report makes the Lambda trade-offs visible from this deployment's own
// records. Rollout compares one change rolled out both ways: the Lambda way (a batch
// run, package runs) and the Kappa way (a replay, package replays), side by side —
// what each cost, when its answers came, and how far their answers are apart.
package report
