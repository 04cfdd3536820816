package master

import (
	"github.com/ClickHouse/ch-go/proto"
	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lambda-platform/lambda/internal/chstream"
	"github.com/lambda-platform/lambda/internal/features"
)

// foldTime is the time an event is folded at, event.FoldTime in SQL: its ts, never
// after its arrival.
const foldTime = "least(ts_us, arrival_us)"

// readColumns are the events columns the bulk read selects, in the order of
// block.results; the ts_us of EventSchema is the fold time.
const readColumns = "entity_id, event_id, type, " + foldTime + " AS fold_ts_us, value, has_value, attrs_keys, attrs_values, kafka_partition, kafka_offset"

// block holds the columns of a chunk read, every block of the answer appended, and
// turns them into an Arrow record of features.EventSchema without copying strings or
// numbers: Arrow's buffers point into the columns, so a record is valid only until
// they change.
type block struct {
	entity, id, typ chstream.Strings
	ts              chstream.Fixed[int64]
	value           chstream.Fixed[float64]
	hasValue        chstream.Fixed[uint8]
	keys, values    chstream.StringArrays
	partition       chstream.Fixed[int32]
	offset          chstream.Fixed[int64]
	valid           []byte
}

// results binds the block's columns to the read's result, in readColumns order.
func (b *block) results() proto.Results {
	return proto.Results{
		{Name: "entity_id", Data: &b.entity}, {Name: "event_id", Data: &b.id}, {Name: "type", Data: &b.typ},
		{Name: "fold_ts_us", Data: &b.ts}, {Name: "value", Data: &b.value}, {Name: "has_value", Data: &b.hasValue},
		{Name: "attrs_keys", Data: &b.keys}, {Name: "attrs_values", Data: &b.values},
		{Name: "kafka_partition", Data: &b.partition}, {Name: "kafka_offset", Data: &b.offset},
	}
}

// truncate empties b, keeping its memory.
func (b *block) truncate() {
	for _, r := range b.results() {
		r.Data.(interface{ Truncate() }).Truncate()
	}
}

// rows is the number of rows b holds.
func (b *block) rows() int { return len(b.partition.Values) }

// record returns the block as an Arrow record of rows rows.
func (b *block) record(rows int) arrow.Record {
	cols := []arrow.Array{
		utf8(&b.entity),
		utf8(&b.id),
		utf8(&b.typ),
		array.NewInt64Data(array.NewData(arrow.PrimitiveTypes.Int64, rows,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(b.ts.Values))}, nil, 0, 0)),
		b.values64(rows),
		list(&b.keys),
		list(&b.values),
	}
	rec := array.NewRecord(features.EventSchema, cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// stringData is c as Arrow utf8 data, pointing at its offsets and bytes.
func stringData(c *chstream.Strings) arrow.ArrayData {
	return array.NewData(arrow.BinaryTypes.String, c.Rows(),
		[]*memory.Buffer{nil, int32Buffer(c.Offsets), memory.NewBufferBytes(c.Buf)}, nil, 0, 0)
}

// int32Buffer is offsets as an Arrow buffer: a column of no rows still has its one 0.
func int32Buffer(offsets []int32) *memory.Buffer {
	if len(offsets) == 0 {
		offsets = []int32{0}
	}
	return memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offsets))
}

func utf8(c *chstream.Strings) arrow.Array {
	d := stringData(c)
	defer d.Release()
	return array.MakeFromData(d)
}

// values64 is the value column, null where has_value is 0.
func (b *block) values64(rows int) arrow.Array {
	nulls := 0
	for _, h := range b.hasValue.Values {
		if h == 0 {
			nulls++
		}
	}
	var valid *memory.Buffer
	if nulls > 0 {
		n := int(bitutil.BytesForBits(int64(rows)))
		b.valid = append(b.valid[:0], make([]byte, n)...)
		for i, h := range b.hasValue.Values {
			if h != 0 {
				bitutil.SetBit(b.valid, i)
			}
		}
		valid = memory.NewBufferBytes(b.valid)
	}
	d := array.NewData(arrow.PrimitiveTypes.Float64, rows,
		[]*memory.Buffer{valid, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(b.value.Values))}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// list is c as Arrow list<utf8>, pointing at its offsets and strings.
func list(c *chstream.StringArrays) arrow.Array {
	elems := stringData(&c.Data)
	defer elems.Release()
	d := array.NewData(arrow.ListOf(arrow.BinaryTypes.String), c.Rows(),
		[]*memory.Buffer{nil, int32Buffer(c.Offsets)}, []arrow.ArrayData{elems}, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}
