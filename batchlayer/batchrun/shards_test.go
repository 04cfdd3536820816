package batchrun_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/master/mastertest"
	"github.com/lambda-platform/lambda/internal/runs"
)

// TestShardedRunMatchesOneShard: a run of 4 shards, worked by goroutines, publishes
// the same view as a run of one over the same events (imported rows and redelivered
// copies included), and its counts are the sums of its shards'.
func TestShardedRunMatchesOneShard(t *testing.T) {
	f := newFixture(t)
	logged := f.produce(t, 6000, 1)
	f.Insert(t, logged[1000:2500]) // redelivered and archived again
	g := demogen.New(demogen.Config{Entities: 50, Seed: 3})
	var imported []mastertest.Logged
	for i := range 500 {
		imported = append(imported, mastertest.Logged{Event: g.Next(), Partition: master.ImportPartition, Offset: int64(i)})
	}
	f.Insert(t, imported)
	f.logged = append(f.logged, imported...)

	one := runToEnd(t, f.runner(t, batchrun.Config{ChunkRows: 2000}, nil))
	four := runToEnd(t, f.runner(t, batchrun.Config{ChunkRows: 2000, Shards: 4}, nil))
	if four.Status != runs.StatusPublished {
		t.Fatalf("4-shard run %d is %s: %s", four.ID, four.Status, four.Error)
	}
	f.checkView(t, four)
	want, got := f.viewRows(t, one.ID), f.viewRows(t, four.ID)
	if len(got) != len(want) {
		t.Fatalf("4 shards wrote %d entities, 1 shard %d", len(got), len(want))
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if w, g := want[id], got[id]; !slices.Equal(g.Vector, w.Vector) || g.Score != w.Score {
			t.Errorf("%s: 4 shards %v → %g, 1 shard %v → %g", id, g.Vector, g.Score, w.Vector, w.Score)
		}
	}
	if four.EventsRead != one.EventsRead || four.EntitiesScored != one.EntitiesScored || four.RowsWritten != one.RowsWritten {
		t.Errorf("4-shard counts %d/%d/%d, 1-shard %d/%d/%d", four.EventsRead, four.EntitiesScored, four.RowsWritten,
			one.EventsRead, one.EntitiesScored, one.RowsWritten)
	}
	shards, err := runs.Shards(t.Context(), f.Postgres, four.ID)
	if err != nil || len(shards) != 4 {
		t.Fatalf("shards of run %d: %d, %v", four.ID, len(shards), err)
	}
	var events int64
	for _, s := range shards {
		if s.Status != runs.ShardSucceeded || s.EventsRead == 0 {
			t.Errorf("shard %d/%d is %s with %d events", s.Index, s.Of, s.Status, s.EventsRead)
		}
		events += s.EventsRead
	}
	if events != four.EventsRead {
		t.Errorf("shards read %d events, the run says %d", events, four.EventsRead)
	}
	if shards, _ := runs.Shards(t.Context(), f.Postgres, one.ID); len(shards) != 0 {
		t.Errorf("a one-shard run has %d shard rows", len(shards))
	}
}

// TestFailedShardPublishesNothing: a run of 2 shards left to external workers fails
// when a worker's ClickHouse database does not exist (a real read error): nothing of
// it is published, the previous run stays served, and its other shard is not claimed
// again.
func TestFailedShardPublishesNothing(t *testing.T) {
	f := newFixture(t)
	f.produce(t, 3000, 1)
	first := runToEnd(t, f.runner(t, batchrun.Config{}, nil))

	r := f.runner(t, batchrun.Config{Shards: 2, ExternalWorkers: true}, nil)
	run, _, err := r.Trigger(t.Context(), runs.TriggerCLI, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	waitShards(t, f, run.ID)

	healthy := f.worker(t, f.Events, f.Database)
	if _, err := healthy.Work(t.Context(), run.ID, master.Shard{Index: 1, Of: 2}, "healthy"); err != nil {
		t.Fatalf("shard 1/2: %v", err)
	}
	const gone = "lambda_no_such_database"
	broken := f.worker(t, master.New(f.ClickHouse, f.Stream, gone), gone)
	if _, err := broken.Work(t.Context(), run.ID, master.Shard{Index: 0, Of: 2}, "broken"); err == nil {
		t.Fatal("shard 0/2 read a database that does not exist")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	done, err := r.Wait(ctx, run.ID)
	if err != nil || done.Status != runs.StatusFailed {
		t.Fatalf("run %d is %s (%v), want failed", done.ID, done.Status, err)
	}
	t.Logf("run %d failed: %s", done.ID, done.Error)
	served, err := runs.Published(t.Context(), f.Postgres)
	if err != nil || served.ID != first.ID {
		t.Errorf("served run %d (%v), want %d", served.ID, err, first.ID)
	}
	if rows := f.viewRows(t, run.ID); len(rows) != 0 {
		t.Errorf("the failed run left %d rows in its view", len(rows))
	}
	_, err = healthy.Work(t.Context(), run.ID, master.Shard{Index: 1, Of: 2}, "again")
	if !errors.Is(err, runs.ErrShardNotPending) {
		t.Errorf("claiming a finished shard again: %v, want ErrShardNotPending", err)
	}
}

// worker is a Runner of the fixture's model that works shards, reading events.
func (f *fixture) worker(t *testing.T, events *master.Dataset, database string) *batchrun.Runner {
	r, err := batchrun.New(t.Context(), batchrun.Deps{
		Postgres: f.Postgres, ClickHouse: f.ClickHouse, Events: events, Models: &models{f: f},
		Registerer: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
	}, batchrun.Config{Database: database})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// waitShards waits until run id has recorded its shards.
func waitShards(t *testing.T, f *fixture, id int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if shards, err := runs.Shards(t.Context(), f.Postgres, id); err == nil && len(shards) > 0 {
			return
		}
	}
	t.Fatalf("run %d recorded no shards", id)
}
