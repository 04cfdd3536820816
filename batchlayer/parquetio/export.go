package parquetio

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/lambda-platform/lambda/internal/views"
)

// exportBatch is how many rows one record (row group chunk) of the export holds.
const exportBatch = 64 << 10

// viewSchema is the Arrow schema of an exported batch view.
var viewSchema = arrow.NewSchema([]arrow.Field{
	{Name: "run_id", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "entity_id", Type: arrow.BinaryTypes.String},
	{Name: "kafka_partition", Type: arrow.PrimitiveTypes.Int32},
	{Name: "covered_offset", Type: arrow.PrimitiveTypes.Int64},
	{Name: "last_event", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "as_of", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "state", Type: arrow.BinaryTypes.Binary},
	{Name: "vector", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32)},
	{Name: "score", Type: arrow.PrimitiveTypes.Float32},
	{Name: "model_name", Type: arrow.BinaryTypes.String},
	{Name: "model_version", Type: arrow.PrimitiveTypes.Uint32},
	{Name: "written_at", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}}, // Parquet has no seconds
}, nil)

// ViewReader reads a run's batch view (*views.Batch is one).
type ViewReader interface {
	Scan(ctx context.Context, runID int64, f views.Fields, fn func(*views.Record) error) error
}

// Export writes the batch view of run id to w as Parquet, one row per entity, and
// returns the number of rows. It does not close w.
func Export(ctx context.Context, view ViewReader, id int64, w io.Writer) (n int64, err error) {
	// pqarrow closes a writer that is an io.Closer; hide Close from it.
	fw, err := pqarrow.NewFileWriter(viewSchema, struct{ io.Writer }{w},
		parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy)), pqarrow.DefaultWriterProps())
	if err != nil {
		return 0, fmt.Errorf("write parquet: %w", err)
	}
	defer func() {
		if cerr := fw.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write parquet: %w", cerr)
		}
	}()
	b := array.NewRecordBuilder(memory.DefaultAllocator, viewSchema)
	defer b.Release()
	write := func() error {
		rec := b.NewRecord()
		defer rec.Release()
		if rec.NumRows() == 0 {
			return nil
		}
		if err := fw.Write(rec); err != nil {
			return fmt.Errorf("write parquet: %w", err)
		}
		return nil
	}
	err = view.Scan(ctx, id, views.Scores|views.States|views.WrittenAt, func(r *views.Record) error {
		appendRecord(b, r)
		n++
		if n%exportBatch == 0 {
			return write()
		}
		return nil
	})
	if err == nil {
		err = write()
	}
	return n, err
}

func appendRecord(b *array.RecordBuilder, s *views.Record) {
	b.Field(0).(*array.Uint64Builder).Append(uint64(s.RunID))
	b.Field(1).(*array.StringBuilder).BinaryBuilder.Append(s.EntityID)
	b.Field(2).(*array.Int32Builder).Append(s.Partition)
	b.Field(3).(*array.Int64Builder).Append(s.Offset)
	b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(s.LastEvent.UnixMicro()))
	b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(s.AsOf.UnixMicro()))
	b.Field(6).(*array.BinaryBuilder).Append(s.State)
	vb := b.Field(7).(*array.ListBuilder)
	vb.Append(true)
	vb.ValueBuilder().(*array.Float32Builder).AppendValues(s.Vector, nil)
	b.Field(8).(*array.Float32Builder).Append(s.Score)
	b.Field(9).(*array.StringBuilder).Append(s.ModelName)
	b.Field(10).(*array.Uint32Builder).Append(uint32(s.ModelVersion))
	b.Field(11).(*array.TimestampBuilder).Append(arrow.Timestamp(s.WrittenAt.UnixMilli()))
}
