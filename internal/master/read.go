package master

import (
	"cmp"
	"context"
	"fmt"
	"slices"

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

// readBatch is how many rows of a chunk Read passes to fn at a time.
const readBatch = 1 << 16

// Read streams the rows of cutoff whose entity lies in chunk to fn: each call gets
// the chunk's record (features.EventSchema) and the indexes of the rows to fold next,
// in order. Over all calls the rows come grouped by entity_id (byte order) and,
// within an entity, in (kafka_partition, kafka_offset) order, each (kafka_partition,
// kafka_offset) once. The record is valid only during the call. queryID names the
// server-side query (system.processes, KILL QUERY). fn's error ends the read and is
// returned as is.
//
// ClickHouse sends the chunk unsorted: sorting by a String key is most of a sorted
// query's cost on the server. Read holds the chunk's columns and puts the rows in
// order here, by grouping them per entity (a hash table of the chunk's entities)
// and sorting each entity's few rows by partition and offset; the copies of a row
// are then adjacent and skipped, which gives the result of LIMIT 1 BY
// kafka_partition, kafka_offset.
//
// The chunk's columns and the order live in buf, which the next Read with it reuses:
// one buffer per read in flight (a ReadBuffer is not safe for concurrent use).
//
// A chunk the plan estimates at more than MaxHeldRows rows (one heavy entity's, under
// skewed activity, grows with the history) is not held: ClickHouse sorts it and Read
// passes it on block by block, memory bounded by a block.
func (d *Dataset) Read(ctx context.Context, cutoff Cutoff, chunk Chunk, queryID string, buf *ReadBuffer, fn func(rec arrow.Record, rows []int32) error) (ReadStats, error) {
	if chunk.Rows > MaxHeldRows {
		return d.readSorted(ctx, cutoff, chunk, queryID, buf, fn)
	}
	r := buf
	r.chunk.truncate()
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s AND %s", readColumns, d.events, chunk.where(), cutoff.where())
	err := chstream.Select(ctx, d.stream, queryID, q, r.chunk.results(), func(int) error { return nil })
	if err != nil {
		return ReadStats{}, fmt.Errorf("read %s, %s: %w", d.events, chunk, err)
	}
	order, copies := r.order(cutoff.Shard, len(cutoff.Offsets))
	st := ReadStats{Copies: int64(copies)}
	if len(order) == 0 {
		return st, nil
	}
	rec := r.chunk.record(r.chunk.rows())
	defer rec.Release()
	for part := range slices.Chunk(order, readBatch) {
		if err := fn(rec, part); err != nil {
			return st, err
		}
		st.Rows += int64(len(part))
	}
	return st, nil
}

// MaxHeldRows is the most rows of a chunk Read holds in memory to order them itself.
const MaxHeldRows = 1_000_000

// readSorted reads chunk sorted by the table key from ClickHouse and passes each block
// on as it comes, skipping copies (adjacent in that order, also across blocks) and the
// imported rows outside the cutoff's shard.
func (d *Dataset) readSorted(ctx context.Context, cutoff Cutoff, chunk Chunk, queryID string, buf *ReadBuffer, fn func(rec arrow.Record, rows []int32) error) (ReadStats, error) {
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s AND %s ORDER BY entity_id, kafka_partition, kafka_offset",
		readColumns, d.events, chunk.where(), cutoff.where())
	b := &buf.chunk
	b.truncate()
	var (
		st                ReadStats
		lastPart          = int32(ImportPartition - 1) // no row has it
		lastOffset        int64
		lastEntity, holds = "", true
		partitions        = len(cutoff.Offsets)
		fnErr             error
	)
	err := chstream.Select(ctx, d.stream, queryID, q, b.results(), func(int) error {
		defer b.truncate() // the next block replaces this one
		rows := buf.rows[:0]
		for i := range b.rows() {
			p, o := b.partition.Values[i], b.offset.Values[i]
			if p == ImportPartition && !cutoff.Shard.Whole() {
				if e := b.entity.Row(i); string(e) != lastEntity {
					lastEntity, holds = string(e), cutoff.Shard.holdsEntity(e, partitions)
				}
				if !holds {
					continue
				}
			}
			if p == lastPart && o == lastOffset {
				st.Copies++
				continue
			}
			lastPart, lastOffset = p, o
			rows = append(rows, int32(i))
		}
		buf.rows = rows
		if len(rows) == 0 {
			return nil
		}
		rec := b.record(b.rows())
		defer rec.Release()
		if fnErr = fn(rec, rows); fnErr != nil {
			return fnErr
		}
		st.Rows += int64(len(rows))
		return nil
	})
	if fnErr != nil {
		return st, fnErr
	}
	if err != nil {
		return st, fmt.Errorf("read %s, %s: %w", d.events, chunk, err)
	}
	return st, nil
}

// ReadBuffer holds a chunk read: its rows, and the buffers that put them in order.
// Reusing it for the next chunk saves growing buffers of a million rows anew, which
// costs more than reading them on machines where first touching memory is slow.
// The zero value is ready to use.
type ReadBuffer struct {
	chunk  block
	ids    map[string]int32 // entity id → group, in order of first appearance
	names  []string         // group → entity id
	group  []int32          // row → group
	ranked []int32          // groups by entity id
	start  []int32          // counting sort positions, per group
	rows   []int32          // row indexes in read order
}

// order returns the indexes of the chunk's rows grouped by entity_id in byte order
// and, per entity, in (kafka_partition, kafka_offset) order, without the copies of a
// row (their count is returned) and without the imported rows whose entity is not
// in shard (of a topic of partitions partitions; Kafka rows are filtered in SQL).
func (r *ReadBuffer) order(shard Shard, partitions int) ([]int32, int) {
	b := &r.chunk
	n := b.rows()
	if r.ids == nil {
		r.ids = map[string]int32{}
	}
	clear(r.ids)
	r.names, r.group = r.names[:0], slices.Grow(r.group[:0], n)[:n]
	for i := range n {
		e := b.entity.Row(i)
		g, ok := r.ids[string(e)]
		if !ok {
			g = int32(len(r.names))
			r.names = append(r.names, string(e))
			r.ids[r.names[g]] = g
		}
		r.group[i] = g
	}
	groups := len(r.names)
	r.ranked = slices.Grow(r.ranked[:0], groups)
	for g := range groups {
		r.ranked = append(r.ranked, int32(g))
	}
	slices.SortFunc(r.ranked, func(x, y int32) int { return cmp.Compare(r.names[x], r.names[y]) })
	// A counting sort: start[g+1] is where group g's next row goes.
	r.start = slices.Grow(r.start[:0], groups+1)[:groups+1]
	clear(r.start)
	for _, g := range r.group {
		r.start[g+1]++
	}
	at := int32(0)
	for _, g := range r.ranked {
		at, r.start[g+1] = at+r.start[g+1], at
	}
	r.rows = slices.Grow(r.rows[:0], n)[:n]
	for i, g := range r.group {
		r.rows[r.start[g+1]] = int32(i)
		r.start[g+1]++
	}
	// Each entity's rows by (partition, offset); drop copies and rows outside shard.
	out, copies, from := r.rows[:0], 0, 0
	for _, g := range r.ranked {
		rows := r.rows[from:r.start[g+1]]
		from = int(r.start[g+1])
		if len(rows) > 1 {
			slices.SortFunc(rows, func(x, y int32) int {
				return cmp.Or(cmp.Compare(b.partition.Values[x], b.partition.Values[y]), cmp.Compare(b.offset.Values[x], b.offset.Values[y]))
			})
		}
		held := shard.Whole() || shard.holdsEntity([]byte(r.names[g]), partitions)
		lastPart, lastOffset := int32(ImportPartition-1), int64(0) // no row has that partition
		for _, i := range rows {                                   // out never passes the row being read
			p, o := b.partition.Values[i], b.offset.Values[i]
			switch {
			case p == ImportPartition && !held:
			case p == lastPart && o == lastOffset:
				copies++
			default:
				out = append(out, i)
			}
			lastPart, lastOffset = p, o
		}
	}
	return out, copies
}
