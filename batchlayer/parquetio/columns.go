package parquetio

import (
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lambda-platform/lambda/internal/event"
)

// eventColumn describes one column Import takes.
type eventColumn struct {
	name     string
	required bool
	want     string // for errors
	ok       func(arrow.DataType) bool
}

func isString(t arrow.DataType) bool { return t.ID() == arrow.STRING }

var eventColumns = []eventColumn{
	{"event_id", true, "string", isString},
	{"entity_id", true, "string", isString},
	{"type", true, "string", isString},
	{"ts", true, "timestamp", func(t arrow.DataType) bool { return t.ID() == arrow.TIMESTAMP }},
	{"value", false, "double or float", func(t arrow.DataType) bool { return t.ID() == arrow.FLOAT64 || t.ID() == arrow.FLOAT32 }},
	{"attrs", false, "map<string, string>", func(t arrow.DataType) bool {
		m, ok := t.(*arrow.MapType)
		return ok && isString(m.KeyType()) && isString(m.ItemType())
	}},
}

// layout is where each event column is in the file's schema; -1 for a missing optional one.
type layout [6]int

// checkSchema matches sc against the event columns, naming the offending column.
func checkSchema(sc *arrow.Schema) (layout, error) {
	var l layout
	for i, c := range eventColumns {
		idx := sc.FieldIndices(c.name)
		switch {
		case len(idx) > 1:
			return l, fmt.Errorf("%w: column %s appears %d times", ErrSchema, c.name, len(idx))
		case len(idx) == 0 && c.required:
			return l, fmt.Errorf("%w: column %s (%s) is missing", ErrSchema, c.name, c.want)
		case len(idx) == 0:
			l[i] = -1
			continue
		}
		if t := sc.Field(idx[0]).Type; !c.ok(t) {
			return l, fmt.Errorf("%w: column %s is %s, want %s", ErrSchema, c.name, t, c.want)
		}
		l[i] = idx[0]
	}
	for _, f := range sc.Fields() {
		known := false
		for _, c := range eventColumns {
			known = known || c.name == f.Name
		}
		if !known {
			names := make([]string, len(eventColumns))
			for i, c := range eventColumns {
				names[i] = c.name
			}
			return l, fmt.Errorf("%w: unknown column %s (the columns are %s)", ErrSchema, f.Name, strings.Join(names, ", "))
		}
	}
	return l, nil
}

// rows reads events out of the records of one layout.
type rows struct {
	eventID, entityID, typ *array.String
	ts                     *array.Timestamp
	unit                   arrow.TimeUnit
	value                  arrow.Array // *array.Float64 or *array.Float32, nil when absent
	attrs                  *array.Map  // nil when absent
}

func bind(rec arrow.Record, l layout) rows {
	r := rows{
		eventID: rec.Column(l[0]).(*array.String), entityID: rec.Column(l[1]).(*array.String),
		typ: rec.Column(l[2]).(*array.String), ts: rec.Column(l[3]).(*array.Timestamp),
	}
	r.unit = r.ts.DataType().(*arrow.TimestampType).Unit
	if l[4] >= 0 {
		r.value = rec.Column(l[4])
	}
	if l[5] >= 0 {
		r.attrs = rec.Column(l[5]).(*array.Map)
	}
	return r
}

// event returns row i as an event, or why it is not one.
func (r rows) event(i int) (event.Event, error) {
	for _, c := range []struct {
		name string
		col  arrow.Array
	}{{"event_id", r.eventID}, {"entity_id", r.entityID}, {"type", r.typ}, {"ts", r.ts}} {
		if c.col.IsNull(i) {
			return event.Event{}, fmt.Errorf("column %s is null", c.name)
		}
	}
	e := event.Event{
		EventID: r.eventID.Value(i), EntityID: r.entityID.Value(i), Type: r.typ.Value(i),
		TS: r.ts.Value(i).ToTime(r.unit),
	}
	if r.value != nil && r.value.IsValid(i) {
		var v float64
		switch col := r.value.(type) {
		case *array.Float64:
			v = col.Value(i)
		case *array.Float32:
			v = float64(col.Value(i))
		}
		e.Value = &v
	}
	if r.attrs != nil && r.attrs.IsValid(i) {
		keys, items := r.attrs.Keys().(*array.String), r.attrs.Items().(*array.String)
		start, end := r.attrs.ValueOffsets(i)
		e.Attrs = make(map[string]string, end-start)
		for j := int(start); j < int(end); j++ {
			if items.IsNull(j) {
				return event.Event{}, fmt.Errorf("attrs.%s is null", keys.Value(j))
			}
			e.Attrs[keys.Value(j)] = items.Value(j)
		}
	}
	if err := event.Validate(e); err != nil {
		return event.Event{}, err
	}
	return e, nil
}
