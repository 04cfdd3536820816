package master

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/lambda-platform/lambda/internal/chstream"
)

// Inserter is what Insert needs of a clickhouse-go connection (driver.Conn has it).
type Inserter interface {
	PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error)
}

// Conn is what a Dataset needs of a clickhouse-go connection for its small queries
// and inserts (driver.Conn has it).
type Conn interface {
	Inserter
	QueryRow(ctx context.Context, query string, args ...any) driver.Row
	Query(ctx context.Context, query string, args ...any) (driver.Rows, error)
}

// Dataset is the master dataset: the events table of one ClickHouse database. Small
// queries and inserts go through a clickhouse-go connection, the bulk read through
// chstream. It is safe for concurrent use.
type Dataset struct {
	conn     Conn
	stream   chstream.Options
	events   string // database-qualified table names
	offsets  string
	streamed *atomic.Int64 // bytes the bulk reads received
}

// New returns the master dataset in database; stream locates the same server for
// the bulk read (its Database is set to database).
func New(conn Conn, stream chstream.Options, database string) *Dataset {
	stream.Database = database
	stream.BytesRead = new(atomic.Int64)
	return &Dataset{conn: conn, stream: stream, events: EventsTable(database), offsets: qualified(database, "events_offsets"),
		streamed: stream.BytesRead}
}

// BytesStreamed is how many bytes the bulk reads have received from ClickHouse so far.
func (d *Dataset) BytesStreamed() int64 { return d.streamed.Load() }

// EventsTable is the name of the events table of database, qualified unless database
// is empty (the connection's default database).
func EventsTable(database string) string { return qualified(database, "events") }

// qualified is table in database, or table alone when database is empty.
func qualified(database, table string) string {
	if database == "" {
		return table
	}
	return "`" + database + "`." + table
}

// Table is the database-qualified name of the events table.
func (d *Dataset) Table() string { return d.events }

// ImportedMax returns the highest kafka_offset of imported rows (-1: none), read
// from the events_offsets view that ClickHouse keeps on every insert.
func (d *Dataset) ImportedMax(ctx context.Context) (int64, error) {
	var off int64
	q := fmt.Sprintf("SELECT if(count() = 0, -1, maxMerge(max_offset)) FROM %s WHERE kafka_partition = %d",
		d.offsets, ImportPartition)
	if err := d.conn.QueryRow(ctx, q).Scan(&off); err != nil {
		return 0, fmt.Errorf("read highest import offset: %w", err)
	}
	return off, nil
}

// Insert appends rows to the events table with one column-oriented insert.
func (d *Dataset) Insert(ctx context.Context, rows *Rows) error {
	return Insert(ctx, d.conn, d.events, rows)
}
