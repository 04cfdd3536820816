package runs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PublishChannel is the PostgreSQL notification channel Publish notifies, with the
// run id as payload.
const PublishChannel = "batch_published"

// abandonedError is the error recorded for a run whose process went away.
const abandonedError = "abandoned: the process running it ended or lost its database session before it finished"

// DB is the part of a pgx pool, connection or transaction the registry uses.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

const columns = `id, status, trigger, requested_by, created_at, started_at, finished_at, published_at,
	expired_at, cutoff_offsets, cutoff_imported_offset, cutoff_event_time,
	events_read, entities_scored, rows_written, model_name, model_version, error,
	cpu_seconds, peak_heap_bytes, bytes_read, bytes_stored`

func scan(row pgx.Row) (Run, error) {
	var (
		r                                     Run
		started, finished, published, expired *time.Time
		cutoffTime                            *time.Time
		modelName, errText                    *string
		modelVersion                          *int64
	)
	err := row.Scan(&r.ID, &r.Status, &r.Trigger, &r.RequestedBy, &r.CreatedAt, &started, &finished, &published,
		&expired, &r.CutoffOffsets, &r.CutoffImported, &cutoffTime,
		&r.EventsRead, &r.EntitiesScored, &r.RowsWritten, &modelName, &modelVersion, &errText,
		&r.CPUSeconds, &r.PeakHeapBytes, &r.BytesRead, &r.BytesStored)
	if err != nil {
		return Run{}, err
	}
	r.StartedAt, r.FinishedAt, r.PublishedAt, r.ExpiredAt = value(started), value(finished), value(published), value(expired)
	r.CutoffEventTime = value(cutoffTime)
	r.ModelName, r.ModelVersion, r.Error = value(modelName), value(modelVersion), value(errText)
	return r, nil
}

func value[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// one runs a query for one run; no row is notFound.
func one(ctx context.Context, db DB, notFound error, query string, args ...any) (Run, error) {
	r, err := scan(db.QueryRow(ctx, "SELECT "+columns+" FROM batch_runs "+query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, notFound
	}
	if err != nil {
		return Run{}, fmt.Errorf("read batch run: %w", err)
	}
	return r, nil
}

// Published returns the served run: the published run published last.
func Published(ctx context.Context, db DB) (Run, error) {
	return one(ctx, db, ErrNoPublished, "WHERE status = 'published' ORDER BY published_at DESC LIMIT 1")
}

// Get returns the run id.
func Get(ctx context.Context, db DB, id int64) (Run, error) {
	r, err := one(ctx, db, ErrNotFound, "WHERE id = $1", id)
	if errors.Is(err, ErrNotFound) {
		return Run{}, fmt.Errorf("batch run %d: %w", id, err)
	}
	return r, err
}

// Running returns the running run, ErrNotFound when none runs.
func Running(ctx context.Context, db DB) (Run, error) {
	return one(ctx, db, ErrNotFound, "WHERE status = 'running'")
}

// List returns the newest limit runs, newest first.
func List(ctx context.Context, db DB, limit int) ([]Run, error) {
	return many(ctx, db, "SELECT "+columns+" FROM batch_runs ORDER BY id DESC LIMIT $1", limit)
}

func many(ctx context.Context, db DB, query string, args ...any) ([]Run, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list batch runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list batch runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list batch runs: %w", err)
	}
	return out, nil
}

// Start records a new running run. The caller must hold the Lock.
func Start(ctx context.Context, db DB, trigger, requestedBy string) (Run, error) {
	if err := ValidTrigger(trigger); err != nil {
		return Run{}, err
	}
	r, err := scan(db.QueryRow(ctx, `INSERT INTO batch_runs (trigger, requested_by, started_at)
		VALUES ($1, $2, now()) RETURNING `+columns, trigger, requestedBy))
	if err != nil {
		return Run{}, fmt.Errorf("record batch run start: %w", err)
	}
	return r, nil
}

// SetCutoff records what run id reads and scores with.
func SetCutoff(ctx context.Context, db DB, id int64, c Cutoff) error {
	var eventTime *time.Time
	if !c.EventTime.IsZero() {
		eventTime = &c.EventTime
	}
	return update(ctx, db, id, "record cutoff of", `UPDATE batch_runs SET cutoff_offsets = $2, cutoff_imported_offset = $3,
		cutoff_event_time = $4, model_name = $5, model_version = $6 WHERE id = $1 AND status = 'running'`,
		c.Offsets, c.Imported, eventTime, c.ModelName, c.ModelVersion)
}

// Publish makes run id the served run and records its counts, in one transaction
// that also notifies PublishChannel.
func Publish(ctx context.Context, db DB, id int64, n Counts) (Run, error) {
	var r Run
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var err error
		r, err = publish(ctx, tx, id, n)
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("publish batch run %d: %w", id, err)
	}
	return r, nil
}

// publish marks run id published with counts n and notifies PublishChannel, in tx.
func publish(ctx context.Context, tx pgx.Tx, id int64, n Counts) (Run, error) {
	r, err := scan(tx.QueryRow(ctx, `UPDATE batch_runs SET status = 'published', finished_at = now(), published_at = now(),
		events_read = $2, entities_scored = $3, rows_written = $4, cpu_seconds = $5, peak_heap_bytes = $6, bytes_read = $7,
		bytes_stored = $8 WHERE id = $1 AND status = 'running' RETURNING `+columns, id, n.EventsRead, n.EntitiesScored, n.RowsWritten,
		n.CPUSeconds, n.PeakHeapBytes, n.BytesRead, n.BytesStored))
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, fmt.Errorf("batch run %d: %w", id, ErrNotRunning)
	}
	if err != nil {
		return Run{}, err
	}
	_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", PublishChannel, strconv.FormatInt(id, 10))
	return r, err
}

// Fail records that run id failed with reason, and what it did before.
func Fail(ctx context.Context, db DB, id int64, reason string, n Counts) error {
	return update(ctx, db, id, "record failure of", `UPDATE batch_runs SET status = 'failed', finished_at = now(), error = $2,
		events_read = $3, entities_scored = $4, rows_written = $5, cpu_seconds = $6, peak_heap_bytes = $7, bytes_read = $8
		WHERE id = $1 AND status = 'running'`,
		reason, n.EventsRead, n.EntitiesScored, n.RowsWritten, n.CPUSeconds, n.PeakHeapBytes, n.BytesRead)
}

func update(ctx context.Context, db DB, id int64, what, query string, args ...any) error {
	tag, err := db.Exec(ctx, query, append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("%s batch run %d: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s batch run %d: %w", what, id, ErrNotRunning)
	}
	return nil
}

// AbandonRunning marks every running run failed as abandoned and returns their ids.
// Call it only while holding the Lock: then no live process runs them.
func AbandonRunning(ctx context.Context, db DB) ([]int64, error) {
	return ids(ctx, db, "abandon running batch runs", `UPDATE batch_runs SET status = 'failed', finished_at = now(), error = $1
		WHERE status = 'running' RETURNING id`, abandonedError)
}

// Expire retires the published runs other than the keep newest ones and returns their ids.
func Expire(ctx context.Context, db DB, keep int) ([]int64, error) {
	return ids(ctx, db, "expire batch runs", `UPDATE batch_runs SET status = 'expired', expired_at = now()
		WHERE status = 'published' AND id NOT IN (
			SELECT id FROM batch_runs WHERE status = 'published' ORDER BY published_at DESC LIMIT $1)
		RETURNING id`, keep)
}

// PublishedIDs returns the ids of the published runs, whose views must be kept.
func PublishedIDs(ctx context.Context, db DB) ([]int64, error) {
	return ids(ctx, db, "list published batch runs", "SELECT id FROM batch_runs WHERE status = 'published'")
}

func ids(ctx context.Context, db DB, what, query string, args ...any) ([]int64, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
