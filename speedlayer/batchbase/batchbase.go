// Package batchbase reads what the speed layer builds on from the batch layer: the
// published run, from PostgreSQL batch_runs (package runs), and the run's
// per-entity feature states, from the ClickHouse batch_view.
package batchbase

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/lambda-platform/lambda/batchlayer/runs"
	"github.com/lambda-platform/lambda/speedlayer"
)

// Runs finds the published run in batch_runs; it implements speedlayer.Runs.
type Runs struct {
	DB runs.DB
}

// PublishedRun implements speedlayer.Runs.
func (r Runs) PublishedRun(ctx context.Context) (speedlayer.Run, error) {
	run, err := runs.Published(ctx, r.DB)
	switch {
	case errors.Is(err, runs.ErrNoPublished):
		return speedlayer.Run{}, nil
	case err != nil:
		return speedlayer.Run{}, err
	}
	return speedlayer.Run{ID: run.ID, Cutoff: run.CutoffOffsets, AsOf: run.CutoffEventTime}, nil
}

// Conn is what States needs of a ClickHouse connection (driver.Conn has it).
type Conn interface {
	Query(ctx context.Context, query string, args ...any) (driver.Rows, error)
}

// maxQueryIDBytes bounds the entity ids of one lookup, so its text stays well under
// ClickHouse's default max_query_size (256 KiB).
const maxQueryIDBytes = 128 << 10

// States reads base states from batch_view; it implements speedlayer.Bases.
type States struct {
	conn  Conn
	query string
}

// NewStates returns the reader of database's batch_view.
func NewStates(conn Conn, database string) *States {
	return &States{conn: conn, query: "SELECT entity_id, argMax(state, written_at) FROM `" + database +
		"`.batch_view WHERE run_id = ? AND entity_id IN ? GROUP BY entity_id"}
}

// BaseStates implements speedlayer.Bases: one primary-key lookup per 128 KiB of ids,
// exact also before ClickHouse merged a retried write away (argMax by written_at).
func (s *States) BaseStates(ctx context.Context, runID int64, entityIDs []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(entityIDs))
	for len(entityIDs) > 0 {
		n, size := 0, 0
		for n < len(entityIDs) && (n == 0 || size+len(entityIDs[n]) <= maxQueryIDBytes) {
			size += len(entityIDs[n]) + 4
			n++
		}
		if err := s.lookup(ctx, runID, entityIDs[:n], out); err != nil {
			return nil, err
		}
		entityIDs = entityIDs[n:]
	}
	return out, nil
}

func (s *States) lookup(ctx context.Context, runID int64, ids []string, out map[string][]byte) error {
	set := make([]any, len(ids))
	for i, id := range ids {
		set[i] = id
	}
	rows, err := s.conn.Query(ctx, s.query, uint64(runID), clickhouse.GroupSet{Value: set})
	if err != nil {
		return fmt.Errorf("read base states of batch run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			return fmt.Errorf("read base states of batch run %d: %w", runID, err)
		}
		out[id] = []byte(state)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read base states of batch run %d: %w", runID, err)
	}
	return nil
}

// Archive reads event ids from the master dataset, the events table; it implements
// speedlayer.Archive.
type Archive struct {
	conn  Conn
	query string
}

// NewArchive returns the reader of database's events table.
func NewArchive(conn Conn, database string) *Archive {
	return &Archive{conn: conn, query: "SELECT DISTINCT entity_id, event_id FROM `" + database +
		"`.events WHERE kafka_partition = ? AND kafka_offset > ? AND kafka_offset <= ? AND ts >= ?"}
}

// EventIDs implements speedlayer.Archive. The time bound prunes the table's monthly
// partitions; DISTINCT drops redelivered copies not yet merged away.
func (a *Archive) EventIDs(ctx context.Context, partition int, after, upTo int64, since time.Time, fn func(entityID, eventID string)) error {
	rows, err := a.conn.Query(ctx, a.query, int32(partition), after, upTo, max(0, since.Unix()))
	if err != nil {
		return fmt.Errorf("read archived event ids of partition %d: %w", partition, err)
	}
	defer rows.Close()
	for rows.Next() {
		var entityID, eventID string
		if err := rows.Scan(&entityID, &eventID); err != nil {
			return fmt.Errorf("read archived event ids of partition %d: %w", partition, err)
		}
		fn(entityID, eventID)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read archived event ids of partition %d: %w", partition, err)
	}
	return nil
}
