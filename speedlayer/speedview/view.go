// Package speedview writes the speed layer's rows into the PostgreSQL table
// speed_view (migration 0002), or a table of the same shape (a Kappa replay's view).
//
// Upsert writes a whole micro-batch with one INSERT ... SELECT FROM unnest(...)
// ... ON CONFLICT DO UPDATE statement: every column travels as one binary-encoded
// array parameter (the vectors as one flat real[] sliced per row), so a batch is a
// single round trip and a single atomic statement, with no temporary table. The
// conflict clause only replaces a row by one that covers a later offset of the
// entity's partition, or the same offset with another base run or model, so a
// replayed message changes nothing and coverage never goes down.
package speedview

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/speedlayer"
)

// DB is the part of a pgx pool the view uses.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	AcquireFunc(ctx context.Context, f func(*pgxpool.Conn) error) error
}

// View is the speed_view table, or one of its shape; it implements speedlayer.View.
type View struct {
	db                  DB
	table               string
	upsertSQL, pruneSQL string
	bufs                sync.Pool // of *[]byte: encoded parameters
}

// New returns the view speed_view on db.
func New(db DB) *View { return NewTable(db, "speed_view") }

// NewTable returns the view on db's table, which has speed_view's columns and key
// (a Kappa replay's view, see package replays). table must be a plain identifier.
func NewTable(db DB, table string) *View {
	return &View{db: db, table: table, bufs: sync.Pool{New: func() any { return new([]byte) }},
		upsertSQL: fmt.Sprintf(upsertSQL, table),
		pruneSQL: fmt.Sprintf(`DELETE FROM %s WHERE kafka_partition = $1
			AND base_run_id IS DISTINCT FROM NULLIF($2::bigint, 0) AND covered_offset <= $3`, table)}
}

// upsertSQL, for a table %s, takes the columns as arrays $1-$7 and $8 (scores), the
// flat vectors $9 of $10 values per row, and the model $11, $12 (NULL: unscored);
// their types are upsertParamOIDs.
const upsertSQL = `INSERT INTO %s AS v (entity_id, base_run_id, kafka_partition, covered_offset,
	last_event_at, as_of, delta_state, vector, score, model_name, model_version, updated_at)
SELECT r.entity_id, NULLIF(r.base_run_id, 0), r.kafka_partition, r.covered_offset, r.last_event_at, r.as_of,
	r.delta_state,
	CASE WHEN $11::text IS NULL THEN NULL ELSE ($9::real[])[(r.n - 1) * $10 + 1 : r.n * $10] END,
	r.score, $11, $12, now()
FROM unnest($1::text[], $2::bigint[], $3::int[], $4::bigint[], $5::timestamptz[], $6::timestamptz[],
	$7::bytea[], $8::real[])
	WITH ORDINALITY AS r(entity_id, base_run_id, kafka_partition, covered_offset, last_event_at, as_of,
	delta_state, score, n)
ON CONFLICT (entity_id) DO UPDATE SET
	base_run_id = excluded.base_run_id, kafka_partition = excluded.kafka_partition,
	covered_offset = excluded.covered_offset, last_event_at = excluded.last_event_at, as_of = excluded.as_of,
	delta_state = excluded.delta_state, vector = excluded.vector, score = excluded.score,
	model_name = excluded.model_name, model_version = excluded.model_version, updated_at = excluded.updated_at
WHERE v.covered_offset < excluded.covered_offset
	OR (v.covered_offset = excluded.covered_offset
		AND (v.base_run_id IS DISTINCT FROM excluded.base_run_id
			OR v.model_name IS DISTINCT FROM excluded.model_name
			OR v.model_version IS DISTINCT FROM excluded.model_version))`

// Upsert implements speedlayer.View: rows must name each entity once. Rows without a
// vector are stored unscored (model columns NULL) whatever model says. The parameters
// go in PostgreSQL's binary format, encoded here (see upsertParams).
func (v *View) Upsert(ctx context.Context, model speedlayer.Model, rows []speedlayer.Row) (int64, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	var (
		width   int
		name    *string
		version *int64
	)
	if rows[0].Vector != nil {
		width, name, version = len(rows[0].Vector), &model.Name, &model.Version
		for i, r := range rows {
			if len(r.Vector) != width {
				return 0, fmt.Errorf("upsert %s: row %d has %d features, row 0 has %d", v.table, i, len(r.Vector), width)
			}
		}
	}
	buf := v.bufs.Get().(*[]byte)
	defer v.bufs.Put(buf)
	var params [][]byte
	*buf, params = upsertParams((*buf)[:0], rows, width, name, version)
	var tag pgconn.CommandTag
	err := v.db.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		var err error
		tag, err = c.Conn().PgConn().ExecParams(ctx, v.upsertSQL, params, upsertParamOIDs, binaryFormats, nil).Close()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("upsert %d %s rows: %w", len(rows), v.table, err)
	}
	return tag.RowsAffected(), nil
}

// DeleteDominated implements speedlayer.View.
func (v *View) DeleteDominated(ctx context.Context, partition int, runID, cutoff int64) (int64, error) {
	tag, err := v.db.Exec(ctx, v.pruneSQL, partition, runID, cutoff)
	if err != nil {
		return 0, fmt.Errorf("delete %s rows of partition %d dominated by batch run %d: %w", v.table, partition, runID, err)
	}
	return tag.RowsAffected(), nil
}
