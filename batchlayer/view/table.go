package view

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Conn is what the table functions need of a ClickHouse connection (driver.Conn has it).
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) (driver.Rows, error)
}

// DropRun removes every row of run id: its partition. Dropping a partition that does
// not exist does nothing.
func DropRun(ctx context.Context, conn Conn, database string, id uint64) error {
	if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DROP PARTITION %d", table(database), id)); err != nil {
		return fmt.Errorf("drop batch view of run %d: %w", id, err)
	}
	return nil
}

// Partitions returns the ids of the runs that have rows in database's batch_view.
func Partitions(ctx context.Context, conn Conn, database string) ([]uint64, error) {
	rows, err := conn.Query(ctx, "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = 'batch_view' AND active", database)
	if err != nil {
		return nil, fmt.Errorf("list batch view partitions: %w", err)
	}
	defer rows.Close()
	var ids []uint64
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("list batch view partitions: %w", err)
		}
		id, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("batch view partition %q is not a run id: %w", p, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list batch view partitions: %w", err)
	}
	return ids, nil
}

// Stored is a row as Read returns it: Row plus what is the same for the whole run.
type Stored struct {
	Run
	Row
	WrittenAt time.Time
}

// Read calls fn with every row of run id, once per entity (the newest written
// copy), in entity_id order.
func Read(ctx context.Context, conn Conn, database string, id uint64, fn func(Stored) error) error {
	rows, err := conn.Query(ctx, `SELECT entity_id,
		argMax(kafka_partition, written_at), argMax(covered_offset, written_at), argMax(last_event_us, written_at),
		argMax(as_of_us, written_at), argMax(state, written_at), argMax(vector, written_at), argMax(score, written_at),
		argMax(model_name, written_at), argMax(model_version, written_at), max(written_at)
		FROM `+table(database)+` WHERE run_id = ? GROUP BY entity_id ORDER BY entity_id`, id)
	if err != nil {
		return fmt.Errorf("read batch view of run %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		s := Stored{Run: Run{ID: id}}
		var lastUS, asOfUS int64
		var state string
		if err := rows.Scan(&s.EntityID, &s.KafkaPartition, &s.CoveredOffset, &lastUS, &asOfUS, &state,
			&s.Vector, &s.Score, &s.ModelName, &s.ModelVersion, &s.WrittenAt); err != nil {
			return fmt.Errorf("read batch view of run %d: %w", id, err)
		}
		s.LastEvent, s.AsOf, s.State = time.UnixMicro(lastUS).UTC(), time.UnixMicro(asOfUS).UTC(), []byte(state)
		if err := fn(s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read batch view of run %d: %w", id, err)
	}
	return nil
}
