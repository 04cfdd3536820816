package tests

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/replays"
)

// BenchmarkReplayVsBatch processes one log both ways and prints `lambda report rollout`:
// LAMBDA_BENCH_REPLAY_EVENTS demo events (default 5,000,000) of 100,000 entities, once
// the archiver and the speed layer of `lambda up` have caught up with them (so the
// machine is quiet), folded and scored by a batch run in a process of its own (`lambda
// batch run`: its CPU seconds are its own) and by a Kappa replay, whose job runs in the
// otherwise idle `lambda up` (its CPU seconds are that process's). It reports both
// rates, run_events/s and replay_events/s, and their CPU seconds.
func BenchmarkReplayVsBatch(b *testing.B) {
	events := envInt("LAMBDA_BENCH_REPLAY_EVENTS", 5_000_000)
	const entities = 100_000
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	pool, env, _ := freshPlatform(b)
	env = append(env, "LAMBDA_MODEL="+e2eModel)
	run(b, ctx, env, "migrate")
	run(b, ctx, env, "model", "train", "--activate", "--events", "200000", "--entities", strconv.Itoa(entities))
	up := start(b, env, "up")
	brokers := strings.Fields(up.waitLine(b, "kafka", time.Minute))[0]
	began := time.Now()
	run(b, ctx, env, "produce", "--seed", "51", "--entities", strconv.Itoa(entities), "--events", strconv.Itoa(events), "--kafka-brokers", brokers)
	waitCommittedFor(b, ctx, brokers, e2eArchiver, 10*time.Minute)
	waitCommittedFor(b, ctx, brokers, e2eSpeed, 15*time.Minute)
	b.Logf("%d events produced, archived and folded by the speed layer in %s", events, time.Since(began).Round(time.Second))

	b.ResetTimer()
	r := publishedRun(b, ctx, pool, run(b, ctx, env, "batch", "run", "--kafka-brokers", brokers))
	runID := r.ID
	out := run(b, ctx, env, "kappa", "replay")
	var replayID int64
	if _, err := fmt.Sscanf(out, "replay %d started", &replayID); err != nil {
		b.Fatalf("lambda kappa replay printed %q", out)
	}
	b.StopTimer()
	// Printed whole (a benchmark's log is cut after a few lines).
	fmt.Printf("lambda report rollout --run %d --replay %d (%d events, %d entities):\n%s\n", runID, replayID, events, entities,
		run(b, ctx, env, "report", "rollout", "--run", strconv.FormatInt(runID, 10), "--replay", strconv.FormatInt(replayID, 10)))
	rep, err := replays.Get(ctx, pool, replayID)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(r.EventsRead)/r.FinishedAt.Sub(r.StartedAt).Seconds(), "run_events/s")
	b.ReportMetric(float64(rep.EventsRead)/rep.ReadyAt.Sub(rep.CreatedAt).Seconds(), "replay_events/s")
	b.ReportMetric(r.CPUSeconds, "run_cpu_s")
	b.ReportMetric(rep.CPUSeconds, "replay_cpu_s")
	up.stop(b, time.Minute)
}
