package runs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Shard statuses: a shard row is created pending, claimed running by its worker, and
// ends succeeded or failed.
const (
	ShardPending   Status = "pending"
	ShardRunning   Status = "running"
	ShardSucceeded Status = "succeeded"
	ShardFailed    Status = "failed"
)

// Errors of sharded runs, matched with errors.Is.
var (
	// ErrShardNotPending: the shard does not exist with that shard count, was claimed
	// already, or its run is not running.
	ErrShardNotPending = errors.New("batch run shard is not pending")
	// ErrShardsIncomplete: a publish found a shard that has not succeeded.
	ErrShardsIncomplete = errors.New("not every shard of the batch run succeeded")
)

// workerGoneError is recorded for a running shard whose worker's session ended.
const workerGoneError = "worker gone: the process of the shard ended or lost its database session before it finished"

// Shard is one row of batch_run_shards.
type Shard struct {
	RunID      int64
	Index, Of  int
	Status     Status
	Worker     string
	StartedAt  time.Time
	FinishedAt time.Time
	Counts
	Error string
}

// CreateShards records the of pending shards of run id.
func CreateShards(ctx context.Context, db DB, id int64, of int) error {
	_, err := db.Exec(ctx, `INSERT INTO batch_run_shards (run_id, shard, of)
		SELECT $1, s, $2 FROM generate_series(0, $2 - 1) AS s`, id, of)
	if err != nil {
		return fmt.Errorf("record %d shards of batch run %d: %w", of, id, err)
	}
	return nil
}

// Shards returns the shards of run id in shard order.
func Shards(ctx context.Context, db DB, id int64) ([]Shard, error) {
	rows, err := db.Query(ctx, `SELECT run_id, shard, of, status, worker, started_at, finished_at, events_read,
		entities_scored, rows_written, cpu_seconds, peak_heap_bytes, bytes_read, error
		FROM batch_run_shards WHERE run_id = $1 ORDER BY shard`, id)
	if err != nil {
		return nil, fmt.Errorf("read shards of batch run %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Shard, error) {
		var (
			s                 Shard
			started, finished *time.Time
			errText           *string
		)
		err := row.Scan(&s.RunID, &s.Index, &s.Of, &s.Status, &s.Worker, &started, &finished, &s.EventsRead,
			&s.EntitiesScored, &s.RowsWritten, &s.CPUSeconds, &s.PeakHeapBytes, &s.BytesRead, &errText)
		s.StartedAt, s.FinishedAt, s.Error = value(started), value(finished), value(errText)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("read shards of batch run %d: %w", id, err)
	}
	return out, nil
}

// ClaimShard marks shard index of of run id running by worker. The run must be
// running and the shard pending: a shard is claimed once, never again.
func ClaimShard(ctx context.Context, db DB, id int64, index, of int, worker string) error {
	tag, err := db.Exec(ctx, `UPDATE batch_run_shards s SET status = 'running', worker = $4, started_at = now()
		FROM batch_runs r WHERE r.id = s.run_id AND r.status = 'running'
		AND s.run_id = $1 AND s.shard = $2 AND s.of = $3 AND s.status = 'pending'`, id, index, of, worker)
	if err != nil {
		return fmt.Errorf("claim shard %d/%d of batch run %d: %w", index, of, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("claim shard %d/%d of batch run %d: %w", index, of, id, ErrShardNotPending)
	}
	return nil
}

// CompleteShard records that shard index of run id succeeded with counts n.
func CompleteShard(ctx context.Context, db DB, id int64, index int, n Counts) error {
	return endShard(ctx, db, id, index, ShardSucceeded, nil, n)
}

// FailShard records that shard index of run id failed with reason.
func FailShard(ctx context.Context, db DB, id int64, index int, reason string, n Counts) error {
	return endShard(ctx, db, id, index, ShardFailed, &reason, n)
}

func endShard(ctx context.Context, db DB, id int64, index int, status Status, reason *string, n Counts) error {
	tag, err := db.Exec(ctx, `UPDATE batch_run_shards SET status = $3, error = $4, finished_at = now(),
		events_read = $5, entities_scored = $6, rows_written = $7, cpu_seconds = $8, peak_heap_bytes = $9, bytes_read = $10
		WHERE run_id = $1 AND shard = $2 AND status = 'running'`,
		id, index, status, reason, n.EventsRead, n.EntitiesScored, n.RowsWritten, n.CPUSeconds, n.PeakHeapBytes, n.BytesRead)
	if err != nil {
		return fmt.Errorf("record shard %d of batch run %d %s: %w", index, id, status, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("record shard %d of batch run %d %s: %w", index, id, status, ErrNotRunning)
	}
	return nil
}

// PublishShards publishes run id like Publish, in a transaction that first locks
// every shard row of the run and fails with ErrShardsIncomplete unless all of them
// succeeded. The run's event, entity, row, CPU and read-byte counts are own plus the
// sums of its shards'; its peak heap is the highest; bytes stored is own's.
func PublishShards(ctx context.Context, db DB, id int64, own Counts) (Run, error) {
	var r Run
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		shards, err := Shards(ctx, lockedShards{tx}, id)
		if err != nil {
			return err
		}
		n := own
		for _, s := range shards {
			if s.Status != ShardSucceeded {
				return fmt.Errorf("%w: shard %d/%d is %s", ErrShardsIncomplete, s.Index, s.Of, s.Status)
			}
			n.EventsRead += s.EventsRead
			n.EntitiesScored += s.EntitiesScored
			n.RowsWritten += s.RowsWritten
			n.CPUSeconds += s.CPUSeconds
			n.PeakHeapBytes = max(n.PeakHeapBytes, s.PeakHeapBytes)
			n.BytesRead += s.BytesRead
		}
		if len(shards) == 0 {
			return fmt.Errorf("%w: the run has no shards", ErrShardsIncomplete)
		}
		r, err = publish(ctx, tx, id, n)
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("publish batch run %d: %w", id, err)
	}
	return r, nil
}

// lockedShards reads shard rows FOR UPDATE: a worker cannot end a shard while a
// publish counts it.
type lockedShards struct{ pgx.Tx }

func (l lockedShards) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return l.Tx.Query(ctx, sql+" FOR UPDATE", args...)
}

// LockShard takes the lock of shard index of run id; false when another session
// holds it. The worker of a shard holds it for as long as it works on it, on a session
// of its own, so a worker that dies or loses its database session lets it go, which
// WorkerGone sees.
func LockShard(ctx context.Context, pool *pgxpool.Pool, id int64, index int) (*Lock, bool, error) {
	return tryLock(ctx, pool, shardLockKey(id, index), "lock of shard "+strconv.Itoa(index)+" of batch run "+strconv.FormatInt(id, 10))
}

// WorkerGone reports whether the running shard index of run id has lost its worker:
// nobody holds its lock. If so, it marks the shard failed.
func WorkerGone(ctx context.Context, pool *pgxpool.Pool, id int64, index int) (bool, error) {
	l, ok, err := LockShard(ctx, pool, id, index)
	if err != nil || !ok {
		return false, err
	}
	defer l.Release(ctx)
	err = FailShard(ctx, pool, id, index, workerGoneError, Counts{})
	if errors.Is(err, ErrNotRunning) { // it ended between the look and the lock
		return false, nil
	}
	return err == nil, err
}
