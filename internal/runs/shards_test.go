package runs_test

import (
	"errors"
	"testing"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestShardedPublish: a sharded run publishes only once every shard succeeded, with
// the sums of their counts; a shard is claimed once; a worker whose session ended is
// seen as gone, one that holds its lock is not.
func TestShardedPublish(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	r, err := runs.Start(ctx, pool, runs.TriggerCLI, "me")
	if err != nil {
		t.Fatal(err)
	}
	if err := runs.CreateShards(ctx, pool, r.ID, 3); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := runs.ClaimShard(ctx, pool, r.ID, i, 3, "w"); err != nil {
			t.Fatal(err)
		}
	}
	if err := runs.ClaimShard(ctx, pool, r.ID, 0, 3, "again"); !errors.Is(err, runs.ErrShardNotPending) {
		t.Errorf("second claim of shard 0: %v, want ErrShardNotPending", err)
	}
	if err := runs.ClaimShard(ctx, pool, r.ID, 3, 3, "w"); !errors.Is(err, runs.ErrShardNotPending) {
		t.Errorf("claim of shard 3/3: %v, want ErrShardNotPending", err)
	}
	for i := range 2 {
		if err := runs.CompleteShard(ctx, pool, r.ID, i, runs.Counts{EventsRead: 10, EntitiesScored: 2, RowsWritten: 2, CPUSeconds: 1, PeakHeapBytes: int64(100 * (i + 1))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runs.PublishShards(ctx, pool, r.ID, runs.Counts{BytesStored: 7}); !errors.Is(err, runs.ErrShardsIncomplete) {
		t.Fatalf("publish with shard 2 running: %v, want ErrShardsIncomplete", err)
	}

	lock, ok, err := runs.LockShard(ctx, pool, r.ID, 2)
	if err != nil || !ok {
		t.Fatalf("LockShard = %v, %v", ok, err)
	}
	if gone, err := runs.WorkerGone(ctx, pool, r.ID, 2); err != nil || gone {
		t.Errorf("WorkerGone while its lock is held = %v, %v", gone, err)
	}
	if err := runs.CompleteShard(ctx, pool, r.ID, 2, runs.Counts{EventsRead: 5, EntitiesScored: 1, RowsWritten: 1}); err != nil {
		t.Fatal(err)
	}
	lock.Release(ctx)
	pub, err := runs.PublishShards(ctx, pool, r.ID, runs.Counts{BytesStored: 7, CPUSeconds: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if pub.Status != runs.StatusPublished || pub.EventsRead != 25 || pub.EntitiesScored != 5 || pub.RowsWritten != 5 ||
		pub.CPUSeconds != 2.5 || pub.PeakHeapBytes != 200 || pub.BytesStored != 7 {
		t.Errorf("published %+v; want the sums of the shards", pub)
	}
}

// TestWorkerGone: a running shard whose lock nobody holds is failed as gone.
func TestWorkerGone(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	r, err := runs.Start(ctx, pool, runs.TriggerCLI, "me")
	if err != nil {
		t.Fatal(err)
	}
	if err := runs.CreateShards(ctx, pool, r.ID, 2); err != nil {
		t.Fatal(err)
	}
	if err := runs.ClaimShard(ctx, pool, r.ID, 1, 2, "w"); err != nil {
		t.Fatal(err)
	}
	gone, err := runs.WorkerGone(ctx, pool, r.ID, 1)
	if err != nil || !gone {
		t.Fatalf("WorkerGone of an unlocked running shard = %v, %v", gone, err)
	}
	shards, err := runs.Shards(ctx, pool, r.ID)
	if err != nil || shards[1].Status != runs.ShardFailed || shards[1].Error == "" || shards[0].Status != runs.ShardPending {
		t.Errorf("shards %+v (%v): want 0 pending, 1 failed with an error", shards, err)
	}
}
