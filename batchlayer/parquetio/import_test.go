package parquetio_test

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/lambda-platform/lambda/batchlayer/parquetio"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/master/mastertest"
)

func demoEvents(n int, seed int64) []event.Event {
	g := demogen.New(demogen.Config{Entities: 100, Seed: seed})
	out := make([]event.Event, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func importFile(t *testing.T, env *mastertest.Env, file []byte) (parquetio.Imported, error) {
	t.Helper()
	return parquetio.Import(t.Context(), bytes.NewReader(file), env.Events, env.Postgres)
}

// TestImportAppendsEvents imports two files and reads the rows back: every field
// kept, numbered on from import to import.
func TestImportAppendsEvents(t *testing.T) {
	env := mastertest.New(t)
	first, second := demoEvents(1500, 1), demoEvents(700, 2)
	for i, want := range []parquetio.Imported{{Rows: 1500, FirstOffset: 0, LastOffset: 1499}, {Rows: 700, FirstOffset: 1500, LastOffset: 2199}} {
		var buf bytes.Buffer
		mastertest.WriteEvents(t, &buf, [][]event.Event{first, second}[i])
		got, err := importFile(t, env, buf.Bytes())
		if err != nil || got != want {
			t.Fatalf("import %d = %+v, %v; want %+v", i, got, err, want)
		}
	}
	rows, err := env.ClickHouse.Query(t.Context(), "SELECT kafka_partition, kafka_offset, event_id, entity_id, type, ts_us, value, has_value, attrs_keys, attrs_values FROM "+
		env.Events.Table()+" ORDER BY kafka_offset")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	all := append(first, second...)
	n := 0
	for ; rows.Next(); n++ {
		var (
			part            int32
			off, tsUS       int64
			id, entity, typ string
			value           float64
			has             uint8
			keys, values    []string
		)
		if err := rows.Scan(&part, &off, &id, &entity, &typ, &tsUS, &value, &has, &keys, &values); err != nil {
			t.Fatal(err)
		}
		e := all[n]
		attrs := map[string]string{}
		for i, k := range keys {
			attrs[k] = values[i]
		}
		switch {
		case part != -1 || off != int64(n):
			t.Fatalf("row %d at partition %d offset %d, want -1 and %d", n, part, off, n)
		case id != e.EventID || entity != e.EntityID || typ != e.Type || tsUS != e.TS.UnixMicro():
			t.Fatalf("row %d: %s %s %s %d, want %+v", n, id, entity, typ, tsUS, e)
		case (has == 1) != (e.Value != nil) || e.Value != nil && *e.Value != value:
			t.Fatalf("row %d: value %v (has %d), want %v", n, value, has, e.Value)
		case len(attrs) != len(e.Attrs) || !slices.IsSorted(keys):
			t.Fatalf("row %d: attrs %v, want %v", n, attrs, e.Attrs)
		}
		for k, v := range e.Attrs {
			if attrs[k] != v {
				t.Fatalf("row %d: attrs %v, want %v", n, attrs, e.Attrs)
			}
		}
	}
	if n != len(all) {
		t.Errorf("%d rows, want %d", n, len(all))
	}
}

// writeFile writes one record of sc built by fill as a Parquet file.
func writeFile(t *testing.T, sc *arrow.Schema, fill func(b *array.RecordBuilder)) []byte {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	fill(b)
	rec := b.NewRecord()
	defer rec.Release()
	tbl := array.NewTableFromRecords(sc, []arrow.Record{rec})
	defer tbl.Release()
	var buf bytes.Buffer
	if err := pqarrow.WriteTable(tbl, &buf, 100, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportChecksSchema(t *testing.T) {
	env := mastertest.New(t)
	str := arrow.BinaryTypes.String
	base := []arrow.Field{{Name: "event_id", Type: str}, {Name: "entity_id", Type: str}, {Name: "type", Type: str}}
	tsUS := arrow.Field{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}}
	for _, c := range []struct {
		name   string
		fields []arrow.Field
		want   string
	}{
		{"missing ts", base, "column ts (timestamp) is missing"},
		{"ts as integer", append(slices.Clone(base), arrow.Field{Name: "ts", Type: arrow.PrimitiveTypes.Int64}), "column ts is int64, want timestamp"},
		{"value as string", append(slices.Clone(base), tsUS, arrow.Field{Name: "value", Type: str}), "column value is utf8, want double or float"},
		{"attrs as list", append(slices.Clone(base), tsUS, arrow.Field{Name: "attrs", Type: arrow.ListOf(str)}), "want map<string, string>"},
		{"unknown column", append(slices.Clone(base), tsUS, arrow.Field{Name: "timestamp", Type: str}), "unknown column timestamp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := writeFile(t, arrow.NewSchema(c.fields, nil), func(*array.RecordBuilder) {})
			_, err := importFile(t, env, file)
			if !errors.Is(err, parquetio.ErrSchema) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Import: %v; want ErrSchema saying %q", err, c.want)
			}
		})
	}
}

// TestImportRejectsInvalidRows imports a file with bad rows: nothing is written and
// the error names the rows and fields.
func TestImportRejectsInvalidRows(t *testing.T) {
	env := mastertest.New(t)
	events := demoEvents(10, 1)
	events[3].EntityID = ""
	nan := math.NaN()
	events[7].Value = &nan
	events[8].TS = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // past year 9999
	var buf bytes.Buffer
	mastertest.WriteEvents(t, &buf, events)
	_, err := importFile(t, env, buf.Bytes())
	if !errors.Is(err, parquetio.ErrInvalidRows) {
		t.Fatalf("Import: %v, want ErrInvalidRows", err)
	}
	for _, want := range []string{"3 of 10 rows", `row 3: field "entity_id"`, `row 7: field "value"`, `row 8: field "ts"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	var n uint64
	if err := env.ClickHouse.QueryRow(t.Context(), "SELECT count() FROM "+env.Events.Table()).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows in events (%v), want 0", n, err)
	}
}
