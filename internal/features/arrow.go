package features

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/cespare/xxhash/v2"
)

// EventSchema is the Arrow schema the vectorised fold reads: one row per event.
// Columns are found by name, so extra columns and another order are fine.
//
//   - entity_id, event_id, type: utf8, no nulls
//   - ts_us: int64 event time in unix microseconds, no nulls
//   - value: float64, null when the event has no value
//   - attr_keys, attr_values: list<utf8> of equal length per row (a null list is
//     empty); when a key repeats, its first value counts
var EventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "entity_id", Type: arrow.BinaryTypes.String},
	{Name: "event_id", Type: arrow.BinaryTypes.String},
	{Name: "type", Type: arrow.BinaryTypes.String},
	{Name: "ts_us", Type: arrow.PrimitiveTypes.Int64},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "attr_keys", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	{Name: "attr_values", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
}, nil)

// columns are a record's EventSchema columns.
type columns struct {
	entity, id, typ *array.String
	ts              *array.Int64
	value           *array.Float64
	keys, values    *array.List
	keyStr, valStr  *array.String
}

func recordColumns(rec arrow.Record) (columns, error) {
	var c columns
	sc := rec.Schema()
	find := func(name string) (arrow.Array, error) {
		idx := sc.FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("column %s: want exactly one: %w", name, ErrRecordSchema)
		}
		f, _ := EventSchema.FieldsByName(name)
		col := rec.Column(idx[0])
		switch {
		case !compatible(col.DataType(), f[0].Type):
			return nil, fmt.Errorf("column %s is %s, want %s: %w", name, col.DataType(), f[0].Type, ErrRecordSchema)
		case int64(col.Len()) != rec.NumRows():
			return nil, fmt.Errorf("column %s has %d rows, record %d: %w", name, col.Len(), rec.NumRows(), ErrRecordSchema)
		case !f[0].Nullable && col.NullN() > 0:
			return nil, fmt.Errorf("column %s has nulls: %w", name, ErrRecordSchema)
		}
		return col, nil
	}
	cols := make([]arrow.Array, len(EventSchema.Fields()))
	for i, f := range EventSchema.Fields() {
		col, err := find(f.Name)
		if err != nil {
			return c, err
		}
		cols[i] = col
	}
	c.entity, c.id, c.typ = cols[0].(*array.String), cols[1].(*array.String), cols[2].(*array.String)
	c.ts, c.value = cols[3].(*array.Int64), cols[4].(*array.Float64)
	c.keys, c.values = cols[5].(*array.List), cols[6].(*array.List)
	c.keyStr, c.valStr = c.keys.ListValues().(*array.String), c.values.ListValues().(*array.String)
	return c, nil
}

// compatible reports whether a column of type got can be read as want; list
// element nullability does not matter.
func compatible(got, want arrow.DataType) bool {
	if wl, ok := want.(*arrow.ListType); ok {
		gl, ok := got.(*arrow.ListType)
		return ok && arrow.TypeEqual(gl.Elem(), wl.Elem())
	}
	return arrow.TypeEqual(got, want)
}

// addRecord folds the rows of rec in the order of rows (every row in record order
// when rows is nil), calling enter when the entity changes.
func (c *core) addRecord(rec arrow.Record, rows []int32, enter func(id string) error) error {
	cols, err := recordColumns(rec)
	if err != nil {
		return err
	}
	ts, vals := cols.ts.Int64Values(), cols.value.Float64Values()
	valueNulls := cols.value.NullN() > 0
	lastType, lastIdx := "", c.spec.typeIndex("")
	n := int(rec.NumRows())
	if rows != nil {
		n = len(rows)
	}
	for k := range n {
		i := k
		if rows != nil {
			i = int(rows[k])
			if i < 0 || int64(i) >= rec.NumRows() {
				return fmt.Errorf("row %d of a record of %d: %w", i, rec.NumRows(), ErrRecordSchema)
			}
		}
		if ent := cols.entity.Value(i); !c.ok || ent != c.id {
			if err := enter(ent); err != nil {
				return fmt.Errorf("row %d: %w", i, err)
			}
		}
		if typ := cols.typ.Value(i); typ != lastType {
			lastType, lastIdx = typ, c.spec.typeIndex(typ)
		}
		if lastIdx < 0 {
			continue
		}
		if !c.firstSeen(cols.id.Value(i)) {
			continue
		}
		refs := &c.spec.refs[lastIdx]
		c.ev.ts = ts[i]
		c.ev.hasV = false
		if refs.values && (!valueNulls || cols.value.IsValid(i)) {
			c.ev.v, c.ev.hasV = cleanValue(vals[i])
		}
		if refs.attrs {
			if err := c.rowAttrs(&cols, i); err != nil {
				return err
			}
		}
		c.st.fold(refs, &c.ev)
	}
	return nil
}

// rowAttrs resolves the attrs distinct cells read from row i.
func (c *core) rowAttrs(cols *columns, i int) error {
	clear(c.ev.attrOK)
	ks, ke := cols.keys.ValueOffsets(i)
	vs, ve := cols.values.ValueOffsets(i)
	if cols.keys.IsNull(i) {
		ks, ke = 0, 0
	}
	if cols.values.IsNull(i) {
		vs, ve = 0, 0
	}
	if ke-ks != ve-vs {
		return fmt.Errorf("row %d: %d attr keys but %d values: %w", i, ke-ks, ve-vs, ErrRecordSchema)
	}
	for j := ks; j < ke; j++ {
		key := cols.keyStr.Value(int(j))
		for a, name := range c.spec.attrs {
			if key == name && !c.ev.attrOK[a] {
				c.ev.attrOK[a] = true
				c.ev.attrHash[a] = xxhash.Sum64String(cols.valStr.Value(int(vs + j - ks)))
			}
		}
	}
	return nil
}
