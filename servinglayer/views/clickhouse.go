package views

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// Querier is what ClickHouse needs of a connection (driver.Conn has it).
type Querier interface {
	Query(ctx context.Context, query string, args ...any) (driver.Rows, error)
}

// ClickHouse reads the batch view. It is safe for concurrent use.
type ClickHouse struct {
	conn  Querier
	query string
}

// NewClickHouse returns the reader of database's batch_view.
func NewClickHouse(conn Querier, database string) *ClickHouse {
	// One row per entity: the newest written copy, also before ClickHouse merged a
	// retried write away (the table is a ReplacingMergeTree by written_at).
	return &ClickHouse{conn: conn, query: `SELECT entity_id,
		argMax(kafka_partition, written_at), argMax(covered_offset, written_at), argMax(last_event_us, written_at),
		argMax(as_of_us, written_at), argMax(vector, written_at), argMax(score, written_at),
		argMax(model_name, written_at), argMax(model_version, written_at)
		FROM ` + "`" + database + "`" + `.batch_view WHERE run_id = ? AND entity_id IN ? GROUP BY entity_id`}
}

// maxQueryIDBytes bounds the entity ids of one query, so its text stays well under
// ClickHouse's default max_query_size (256 KiB).
const maxQueryIDBytes = 128 << 10

// BatchRows returns the rows of run runID for those of ids it holds, with one
// primary-key lookup per maxQueryIDBytes of ids.
func (c *ClickHouse) BatchRows(ctx context.Context, runID int64, ids []string) ([]predict.BatchRow, error) {
	var out []predict.BatchRow
	for len(ids) > 0 {
		n, size := 0, 0
		for n < len(ids) && (n == 0 || size+len(ids[n]) <= maxQueryIDBytes) {
			size += len(ids[n])
			n++
		}
		var err error
		if out, err = c.read(ctx, runID, ids[:n], out); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return out, nil
}

// read appends the rows of run runID for ids to out.
func (c *ClickHouse) read(ctx context.Context, runID int64, ids []string, out []predict.BatchRow) ([]predict.BatchRow, error) {
	set := clickhouse.GroupSet{Value: make([]any, len(ids))} // binds as ('a', 'b', ...)
	for i, id := range ids {
		set.Value[i] = id
	}
	rows, err := c.conn.Query(ctx, c.query, uint64(runID), set)
	if err != nil {
		return nil, fmt.Errorf("read batch view of run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		r := predict.BatchRow{RunID: runID}
		var (
			lastUS, asOfUS int64
			version        uint32
		)
		if err := rows.Scan(&r.EntityID, &r.Partition, &r.Offset, &lastUS, &asOfUS, &r.Vector, &r.Score,
			&r.ModelName, &version); err != nil {
			return nil, fmt.Errorf("read batch view of run %d: %w", runID, err)
		}
		r.LastEvent, r.AsOf, r.ModelVersion = time.UnixMicro(lastUS).UTC(), time.UnixMicro(asOfUS).UTC(), int(version)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read batch view of run %d: %w", runID, err)
	}
	return out, nil
}
