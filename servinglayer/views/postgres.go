package views

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/batchlayer/runs"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// Postgres reads the speed view and the batch run registry. It is safe for concurrent use.
type Postgres struct {
	db *pgxpool.Pool
}

// NewPostgres returns the reader of the platform's PostgreSQL database.
func NewPostgres(db *pgxpool.Pool) *Postgres { return &Postgres{db: db} }

const speedColumns = `entity_id, coalesce(base_run_id, 0), kafka_partition, covered_offset, last_event_at,
	as_of, updated_at, vector, score, coalesce(model_name, ''), coalesce(model_version, 0)`

// SpeedRows returns the speed_view rows of those of ids it holds.
func (p *Postgres) SpeedRows(ctx context.Context, ids []string) ([]predict.SpeedRow, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if len(ids) == 1 { // the common case, a little cheaper than an array
		rows, err = p.db.Query(ctx, "SELECT "+speedColumns+" FROM speed_view WHERE entity_id = $1", ids[0])
	} else {
		rows, err = p.db.Query(ctx, "SELECT "+speedColumns+" FROM speed_view WHERE entity_id = ANY($1)", ids)
	}
	if err != nil {
		return nil, fmt.Errorf("read speed view: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (predict.SpeedRow, error) {
		var (
			r     predict.SpeedRow
			score *float32
		)
		err := row.Scan(&r.EntityID, &r.BaseRunID, &r.Partition, &r.Offset, &r.LastEvent,
			&r.AsOf, &r.UpdatedAt, &r.Vector, &score, &r.ModelName, &r.ModelVersion)
		if score != nil {
			r.Scored, r.Score = true, *score
		}
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("read speed view: %w", err)
	}
	return out, nil
}

// Published returns the published batch run; ok is false when none is.
func (p *Postgres) Published(ctx context.Context) (predict.ServedRun, bool, error) {
	r, err := runs.Published(ctx, p.db)
	if errors.Is(err, runs.ErrNoPublished) {
		return predict.ServedRun{}, false, nil
	}
	if err != nil {
		return predict.ServedRun{}, false, err
	}
	return predict.ServedRun{ID: r.ID, PublishedAt: r.PublishedAt, CutoffEventTime: r.CutoffEventTime}, true, nil
}

// ListenPublished calls ready once it listens on runs.PublishChannel, then notify at
// every publish, until ctx ends (it returns nil) or the connection fails. It holds a
// connection of its own, outside the pool, the whole time.
func (p *Postgres) ListenPublished(ctx context.Context, ready, notify func()) error {
	return store.Listen(ctx, p.db, runs.PublishChannel, ready, func(string) { notify() })
}

// Run returns the batch run id.
func (p *Postgres) Run(ctx context.Context, id int64) (runs.Run, error) {
	return runs.Get(ctx, p.db, id)
}

// Runs returns the newest limit batch runs, newest first.
func (p *Postgres) Runs(ctx context.Context, limit int) ([]runs.Run, error) {
	return runs.List(ctx, p.db, limit)
}
