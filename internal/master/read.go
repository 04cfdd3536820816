package master

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lambda-platform/lambda/internal/chstream"
)

// ReadStats counts what a read passed on and what it skipped.
type ReadStats struct {
	// Rows were passed to the caller: each (kafka_partition, kafka_offset) once.
	Rows int64
	// Copies were skipped: further rows of a (kafka_partition, kafka_offset) already
	// passed on (a redelivery the archiver inserted again, not yet merged away).
	Copies int64
}

// Read streams the rows of cutoff whose entity lies in chunk to fn as Arrow records
// of features.EventSchema, sorted by entity_id (byte order), each (kafka_partition,
// kafka_offset) once. A record is valid only during the call: its memory is reused.
// queryID names the server-side query (system.processes, KILL QUERY). fn's error ends
// the read and is returned as is.
//
// ClickHouse sorts each chunk by the table's key (entity_id, kafka_partition,
// kafka_offset), so the copies of a row are adjacent; Read passes record slices
// around them, which gives the result of LIMIT 1 BY kafka_partition, kafka_offset
// without the server holding a set of every key.
func (d *Dataset) Read(ctx context.Context, cutoff Cutoff, chunk Chunk, queryID string, fn func(arrow.Record) error) (ReadStats, error) {
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s AND %s ORDER BY entity_id, kafka_partition, kafka_offset",
		readColumns, d.events, chunk.where(), cutoff.where())
	b := newBlock()
	var (
		st         ReadStats
		lastPart   int32 = ImportPartition - 1 // no row has it
		lastOffset int64
		fnErr      error
	)
	holds := cutoff.shardFilter()
	pass := func(rec arrow.Record, from, to int) error {
		if from == to {
			return nil
		}
		st.Rows += int64(to - from)
		if from == 0 && to == int(rec.NumRows()) {
			return fn(rec)
		}
		s := rec.NewSlice(int64(from), int64(to))
		defer s.Release()
		return fn(s)
	}
	err := chstream.Select(ctx, d.stream, queryID, q, b.results(), func(rows int) error {
		rec := b.record(rows)
		defer rec.Release()
		from := 0
		for i := range rows {
			p, o := b.partition[i], b.offset[i]
			if p == ImportPartition && !holds(b.entity.Row(i)) {
				if fnErr = pass(rec, from, i); fnErr != nil {
					return fnErr
				}
				from = i + 1
				continue
			}
			if p == lastPart && o == lastOffset {
				if fnErr = pass(rec, from, i); fnErr != nil {
					return fnErr
				}
				st.Copies++
				from = i + 1
			}
			lastPart, lastOffset = p, o
		}
		fnErr = pass(rec, from, rows)
		return fnErr
	})
	if fnErr != nil {
		return st, fnErr
	}
	if err != nil {
		return st, fmt.Errorf("read %s, %s: %w", d.events, chunk, err)
	}
	return st, nil
}
