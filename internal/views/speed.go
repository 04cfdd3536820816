package views

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/store"
)

// SpeedChannel is the PostgreSQL notification channel on which every statement that
// changes speed_view rows announces their entity ids, newline-separated (migration
// 0006_speed_view_changes).
const SpeedChannel = "speed_view_changed"

// Speed reads the speed view. It is safe for concurrent use.
type Speed struct {
	db *pgxpool.Pool
}

// NewSpeed returns the reader of db's speed_view.
func NewSpeed(db *pgxpool.Pool) *Speed { return &Speed{db: db} }

const speedColumns = `entity_id, coalesce(base_run_id, 0), kafka_partition, covered_offset, last_event_at,
	as_of, updated_at, vector, score, coalesce(model_name, ''), coalesce(model_version, 0)`

// SpeedRows returns the speed_view rows of those of ids it holds, in any order.
func (s *Speed) SpeedRows(ctx context.Context, ids []string) ([]SpeedRow, error) {
	return readSpeedRows(ctx, s.db, "speed_view", ids)
}

// readSpeedRows reads the rows of ids from table, speed_view or a table of its shape.
func readSpeedRows(ctx context.Context, db *pgxpool.Pool, table string, ids []string) ([]SpeedRow, error) {
	var (
		rows pgx.Rows
		err  error
	)
	from := " FROM " + pgx.Identifier{table}.Sanitize()
	if len(ids) == 1 { // the common case, a little cheaper than an array
		rows, err = db.Query(ctx, "SELECT "+speedColumns+from+" WHERE entity_id = $1", ids[0])
	} else {
		rows, err = db.Query(ctx, "SELECT "+speedColumns+from+" WHERE entity_id = ANY($1)", ids)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SpeedRow, error) {
		var (
			r     SpeedRow
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
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return out, nil
}

// ListenChanges calls ready once it listens on SpeedChannel, then changed with the
// entity ids of every committed change of speed_view rows, until ctx ends (it returns
// nil) or the connection fails. Changes committed while nobody listens are not told:
// ready is the moment to forget what was read before. It holds a connection of its
// own, outside the pool, the whole time.
func (s *Speed) ListenChanges(ctx context.Context, ready func(), changed func(ids []string)) error {
	return store.Listen(ctx, s.db, SpeedChannel, ready, func(payload string) { changed(strings.Split(payload, "\n")) })
}
