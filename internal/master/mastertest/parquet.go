package mastertest

import (
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/lambda-platform/lambda/internal/event"
)

// EventFileSchema is the schema of the Parquet event files WriteEvents writes.
var EventFileSchema = arrow.NewSchema([]arrow.Field{
	{Name: "event_id", Type: arrow.BinaryTypes.String},
	{Name: "entity_id", Type: arrow.BinaryTypes.String},
	{Name: "type", Type: arrow.BinaryTypes.String},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "attrs", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String), Nullable: true},
}, nil)

// WriteEvents writes events to w as a Parquet event file, in row groups of 1000.
func WriteEvents(t testing.TB, w io.Writer, events []event.Event) {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, EventFileSchema)
	defer b.Release()
	for _, e := range events {
		b.Field(0).(*array.StringBuilder).Append(e.EventID)
		b.Field(1).(*array.StringBuilder).Append(e.EntityID)
		b.Field(2).(*array.StringBuilder).Append(e.Type)
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(e.TS.UnixMicro()))
		if e.Value != nil {
			b.Field(4).(*array.Float64Builder).Append(*e.Value)
		} else {
			b.Field(4).AppendNull()
		}
		mb := b.Field(5).(*array.MapBuilder)
		if e.Attrs == nil {
			mb.AppendNull()
			continue
		}
		mb.Append(true)
		for _, k := range slices.Sorted(maps.Keys(e.Attrs)) {
			mb.KeyBuilder().(*array.StringBuilder).Append(k)
			mb.ItemBuilder().(*array.StringBuilder).Append(e.Attrs[k])
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	tbl := array.NewTableFromRecords(EventFileSchema, []arrow.Record{rec})
	defer tbl.Release()
	if err := pqarrow.WriteTable(tbl, w, 1000, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
}
