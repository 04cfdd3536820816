package views

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/lambda-platform/lambda/internal/chstream"
)

// Fields chooses the columns a batch read fills beyond the entity and its coverage.
type Fields uint8

// The optional columns.
const (
	// Scores: the vector, score, as_of and model, which serving answers with.
	Scores Fields = 1 << iota
	// States: the encoded feature state the speed layer merges its deltas onto.
	States
	// WrittenAt: when the row was written, which an export keeps.
	WrittenAt
)

// maxQueryIDBytes bounds the quoted entity ids of one query, so its text stays well
// under ClickHouse's default max_query_size (256 KiB).
const maxQueryIDBytes = 128 << 10

// Batch reads the batch view of one ClickHouse database. It is safe for concurrent use.
type Batch struct {
	stream chstream.Options
	table  string
}

// NewBatch returns the reader of database's batch_view; stream locates the server (its
// Database is set to database).
func NewBatch(stream chstream.Options, database string) *Batch {
	stream.Database = database
	return &Batch{stream: stream, table: "`" + database + "`.batch_view"}
}

// Record is one entity's row as a read passes it on. Its byte and float slices alias
// the block being read: they are valid only during the call, copy what you keep.
type Record struct {
	RunID    int64
	EntityID []byte
	Coverage
	// With Scores:
	AsOf         time.Time
	Vector       []float32
	Score        float32
	ModelName    string
	ModelVersion int64
	// With States:
	State []byte
	// With WrittenAt:
	WrittenAt time.Time
}

// Scan calls fn with every entity's row of run runID, once per entity (the newest
// written copy), in entity_id order. fn's error ends the read and is returned as is.
func (b *Batch) Scan(ctx context.Context, runID int64, f Fields, fn func(*Record) error) error {
	return b.read(ctx, runID, "", f, fn)
}

// ScanIDs is Scan restricted to the rows of ids (any order, absent ones skipped), with
// one primary-key lookup per 128 KiB of quoted ids.
func (b *Batch) ScanIDs(ctx context.Context, runID int64, ids []string, f Fields, fn func(*Record) error) error {
	for len(ids) > 0 {
		var in strings.Builder
		n := 0
		for ; n < len(ids) && (n == 0 || in.Len()+len(ids[n])+3 <= maxQueryIDBytes); n++ {
			if n > 0 {
				in.WriteByte(',')
			}
			chstream.Quote(&in, ids[n])
		}
		if err := b.read(ctx, runID, " AND entity_id IN ("+in.String()+")", f, fn); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// States returns the encoded feature state run runID holds for each of ids that it
// has a row for (it implements the speed layer's Bases).
func (b *Batch) States(ctx context.Context, runID int64, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	err := b.ScanIDs(ctx, runID, ids, States, func(r *Record) error {
		out[string(r.EntityID)] = append([]byte(nil), r.State...)
		return nil
	})
	return out, err
}

// read runs one query of run runID's rows matching where (empty or " AND ...").
func (b *Batch) read(ctx context.Context, runID int64, where string, f Fields, fn func(*Record) error) error {
	blk := newBatchBlock(f)
	q := "SELECT " + blk.columns() + " FROM " + b.table + " WHERE run_id = " + strconv.FormatInt(runID, 10) + where +
		" ORDER BY entity_id, written_at DESC"
	var (
		last   []byte // the entity passed on last, across blocks
		passed bool
		fnErr  error
		rec    = Record{RunID: runID}
	)
	err := chstream.Select(ctx, b.stream, "", q, blk.results(), func(rows int) error {
		for i := range rows {
			id := blk.entity.RowBytes(i)
			if passed && string(id) == string(last) {
				continue // an older copy of the row passed on
			}
			last, passed = append(last[:0], id...), true
			blk.fill(&rec, i)
			if fnErr = fn(&rec); fnErr != nil {
				return fnErr
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("read batch view of run %d: %w", runID, err)
	}
	return nil
}

// batchBlock holds one decoded block of a batch read.
type batchBlock struct {
	fields    Fields
	entity    proto.ColStr
	partition proto.ColInt32
	offset    proto.ColInt64
	lastEvent proto.ColInt64
	asOf      proto.ColInt64
	vector    *proto.ColArr[float32]
	values    *proto.ColFloat32 // vector's elements
	score     proto.ColFloat32
	model     proto.ColStr
	version   proto.ColUInt32
	state     proto.ColStr
	written   proto.ColDateTime
}

func newBatchBlock(f Fields) *batchBlock {
	b := &batchBlock{fields: f, values: new(proto.ColFloat32)}
	b.vector = proto.NewArray[float32](b.values)
	return b
}

// results binds the block's columns, in the order of columns.
func (b *batchBlock) results() proto.Results {
	r := proto.Results{
		{Name: "entity_id", Data: &b.entity}, {Name: "kafka_partition", Data: &b.partition},
		{Name: "covered_offset", Data: &b.offset}, {Name: "last_event_us", Data: &b.lastEvent},
	}
	if b.fields&Scores != 0 {
		r = append(r, proto.ResultColumn{Name: "as_of_us", Data: &b.asOf}, proto.ResultColumn{Name: "vector", Data: b.vector},
			proto.ResultColumn{Name: "score", Data: &b.score}, proto.ResultColumn{Name: "model_name", Data: &b.model},
			proto.ResultColumn{Name: "model_version", Data: &b.version})
	}
	if b.fields&States != 0 {
		r = append(r, proto.ResultColumn{Name: "state", Data: &b.state})
	}
	if b.fields&WrittenAt != 0 {
		r = append(r, proto.ResultColumn{Name: "written_at", Data: &b.written})
	}
	return r
}

// columns is the select list of the block's results.
func (b *batchBlock) columns() string {
	res := b.results()
	names := make([]string, len(res))
	for i, c := range res {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// fill sets r to row i of the block. Strings that stay the same from row to row (the
// model name) are not allocated again.
func (b *batchBlock) fill(r *Record, i int) {
	r.EntityID = b.entity.RowBytes(i)
	r.Partition, r.Offset = b.partition[i], b.offset[i]
	r.LastEvent = time.UnixMicro(b.lastEvent[i]).UTC()
	if b.fields&Scores != 0 {
		r.AsOf = time.UnixMicro(b.asOf[i]).UTC()
		start := uint64(0)
		if i > 0 {
			start = b.vector.Offsets[i-1]
		}
		r.Vector = (*b.values)[start:b.vector.Offsets[i]:b.vector.Offsets[i]]
		r.Score = b.score[i]
		if name := b.model.RowBytes(i); string(name) != r.ModelName {
			r.ModelName = string(name)
		}
		r.ModelVersion = int64(b.version[i])
	}
	if b.fields&States != 0 {
		r.State = b.state.RowBytes(i)
	}
	if b.fields&WrittenAt != 0 {
		r.WrittenAt = b.written.Row(i).UTC()
	}
}
