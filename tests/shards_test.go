package tests

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestShardWorkerProcesses: a sharded run worked by `lambda batch worker` processes.
//  1. Two workers, the Indexed Job's way (shard 0 with --start starts the run, shard 1
//     finds it), complete a 2-shard run that publishes once, with the counts of a
//     one-shard `lambda batch run` on the same events.
//  2. A run of `lambda batch run --shards 2 --workers external` whose shard-1 worker is
//     SIGKILLed while it works fails, and the previous run stays served.
func TestShardWorkerProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pool, env, _ := freshPlatform(t)
	env = append(env, "LAMBDA_MODEL="+e2eModel)
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", "2000")
	up := start(t, env, "up")
	brokers := strings.Fields(up.waitLine(t, "kafka", time.Minute))[0]
	run(t, ctx, env, "produce", "--seed", "7", "--entities", "20000", "--events", "300000", "--kafka-brokers", brokers)
	waitCommittedFor(t, ctx, brokers, e2eArchiver, time.Minute)
	kafka := "--kafka-brokers=" + brokers

	one := publishedRun(t, ctx, pool, run(t, ctx, env, "batch", "run", kafka))

	// 1. The Indexed Job's way: shard 0 starts the run, shard 1 takes the running one.
	w0 := start(t, env, "batch", "worker", "--shard", "0/2", "--start", kafka)
	w1 := start(t, env, "batch", "worker", "--shard", "1/2", kafka)
	for i, w := range []*process{w0, w1} {
		select {
		case err := <-w.done:
			if err != nil {
				t.Fatalf("worker of shard %d/2: %v\n%s", i, err, w.output())
			}
		case <-ctx.Done():
			t.Fatalf("worker of shard %d/2 did not end", i)
		}
	}
	sharded, err := runs.Published(ctx, pool)
	if err != nil || sharded.ID == one.ID {
		t.Fatalf("published run %d (%v) after the workers; want a new one", sharded.ID, err)
	}
	if sharded.EventsRead != one.EventsRead || sharded.EntitiesScored != one.EntitiesScored || sharded.RowsWritten != one.RowsWritten {
		t.Errorf("2 worker processes counted %d/%d/%d, one run %d/%d/%d", sharded.EventsRead, sharded.EntitiesScored,
			sharded.RowsWritten, one.EventsRead, one.EntitiesScored, one.RowsWritten)
	}
	var publishes int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM batch_runs WHERE status = 'published'").Scan(&publishes); err != nil || publishes != 2 {
		t.Errorf("%d published runs (%v), want 2: the one-shard run and the sharded one", publishes, err)
	}
	shards, err := runs.Shards(ctx, pool, sharded.ID)
	if err != nil || len(shards) != 2 || shards[0].Worker == shards[1].Worker {
		t.Fatalf("shards %+v (%v): want 2, by two processes", shards, err)
	}

	// 2. A worker SIGKILLed while it works fails the run.
	coordinator := start(t, env, "batch", "run", "--shards", "2", "--workers", "external", kafka)
	var id int64
	testenv.WaitFor(t, time.Minute, "the run to record its shards", func() bool {
		return pool.QueryRow(ctx, "SELECT run_id FROM batch_run_shards WHERE shard = 1 AND run_id > $1", sharded.ID).Scan(&id) == nil
	})
	runFlag := "--run=" + strconv.FormatInt(id, 10)
	w0 = start(t, env, "batch", "worker", runFlag, "--shard", "0/2", kafka)
	w1 = start(t, env, "batch", "worker", runFlag, "--shard", "1/2", kafka)
	testenv.WaitFor(t, time.Minute, "shard 1 to be claimed", func() bool {
		var status string
		return pool.QueryRow(ctx, "SELECT status FROM batch_run_shards WHERE run_id = $1 AND shard = 1", id).Scan(&status) == nil &&
			status != string(runs.ShardPending)
	})
	if err := w1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-w1.done
	<-w0.done // its shard succeeded, or the run had failed before it claimed it
	select {
	case err := <-coordinator.done:
		if err == nil {
			t.Fatal("lambda batch run succeeded with a SIGKILLed shard worker")
		}
	case <-ctx.Done():
		t.Fatal("lambda batch run did not end after its shard worker was killed")
	}
	failed, err := runs.Get(ctx, pool, id)
	if err != nil || failed.Status != runs.StatusFailed || !strings.Contains(failed.Error, "lost its worker") {
		t.Errorf("run %d is %s: %q (%v); want failed, a lost worker", id, failed.Status, failed.Error, err)
	}
	if served, err := runs.Published(ctx, pool); err != nil || served.ID != sharded.ID {
		t.Errorf("served run %d (%v), want %d", served.ID, err, sharded.ID)
	}
	up.stop(t, time.Minute)
}

// publishedRun is the run `lambda batch run` printed as published.
func publishedRun(t testing.TB, ctx context.Context, pool *pgxpool.Pool, out string) runs.Run {
	t.Helper()
	m := regexp.MustCompile(`batch run (\d+) published:`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("lambda batch run printed %q", out)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	r, err := runs.Get(ctx, pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
