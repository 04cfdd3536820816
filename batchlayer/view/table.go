package view

import (
	"context"
	"fmt"
	"strconv"

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

// RunBytes returns what run id's rows take on disk: its partition's active parts.
func RunBytes(ctx context.Context, conn Conn, database string, id uint64) (int64, error) {
	rows, err := conn.Query(ctx, "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = ? AND table = 'batch_view' AND active AND partition_id = ?",
		database, strconv.FormatUint(id, 10))
	if err != nil {
		return 0, fmt.Errorf("size of the batch view of run %d: %w", id, err)
	}
	defer rows.Close()
	var n uint64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, fmt.Errorf("size of the batch view of run %d: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("size of the batch view of run %d: %w", id, err)
	}
	return int64(n), nil
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
