package master

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
)

// insertColumns are the events columns Rows fills, in the order Insert appends them.
const insertColumns = "kafka_partition, kafka_offset, event_id, entity_id, type, ts, ts_us, arrival_us, " +
	"value, has_value, attrs_keys, attrs_values, ingested_at"

// Rows collects events as the columns of the events table for one column-oriented
// INSERT (Dataset.Insert, Insert). The zero value is empty and ready; Reset keeps the memory
// for the next batch.
type Rows struct {
	partition  []int32
	offset     []int64
	eventID    []string
	entityID   []string
	typ        []string
	ts         []int64 // seconds, clamped to the DateTime range
	tsUS       []int64
	arrivalUS  []int64
	value      []float64
	hasValue   []uint8
	attrKeys   [][]string // each a slice of keyArena
	attrValues [][]string // each a slice of valArena
	keyArena   []string
	valArena   []string
	ingestedAt []int64 // filled by Insert
}

// Len is the number of rows collected.
func (r *Rows) Len() int { return len(r.partition) }

// Reset empties r, keeping its memory but not the strings it held, which would stay
// alive (and be scanned by every collection) until overwritten.
func (r *Rows) Reset() {
	clear(r.eventID)
	clear(r.entityID)
	clear(r.typ)
	clear(r.attrKeys)
	clear(r.attrValues)
	clear(r.keyArena)
	clear(r.valArena)
	r.partition, r.offset = r.partition[:0], r.offset[:0]
	r.eventID, r.entityID, r.typ = r.eventID[:0], r.entityID[:0], r.typ[:0]
	r.ts, r.tsUS, r.arrivalUS = r.ts[:0], r.tsUS[:0], r.arrivalUS[:0]
	r.value, r.hasValue = r.value[:0], r.hasValue[:0]
	r.attrKeys, r.attrValues = r.attrKeys[:0], r.attrValues[:0]
	r.keyArena, r.valArena = r.keyArena[:0], r.valArena[:0]
}

// Append adds e, which arrived at arrival (its Kafka timestamp; zero: unknown, taken
// as its ts), as the row of Kafka partition and offset (ImportPartition and an import
// offset for rows that did not come through Kafka). ts is clamped to what a DateTime
// holds (1970 to 2106); ts_us keeps the exact time. Attributes are stored with their
// keys sorted.
func (r *Rows) Append(partition int32, offset int64, e event.Event, arrival time.Time) {
	r.partition = append(r.partition, partition)
	r.offset = append(r.offset, offset)
	r.eventID = append(r.eventID, e.EventID)
	r.entityID = append(r.entityID, e.EntityID)
	r.typ = append(r.typ, e.Type)
	r.ts = append(r.ts, min(max(e.TS.Unix(), 0), math.MaxUint32))
	r.tsUS = append(r.tsUS, e.TS.UnixMicro())
	if arrival.IsZero() {
		arrival = e.TS
	}
	r.arrivalUS = append(r.arrivalUS, arrival.UnixMicro())
	if e.Value != nil {
		r.value, r.hasValue = append(r.value, *e.Value), append(r.hasValue, 1)
	} else {
		r.value, r.hasValue = append(r.value, 0), append(r.hasValue, 0)
	}
	start := len(r.keyArena)
	for k := range e.Attrs {
		r.keyArena = append(r.keyArena, k)
	}
	keys := r.keyArena[start:len(r.keyArena):len(r.keyArena)]
	slices.Sort(keys)
	for _, k := range keys {
		r.valArena = append(r.valArena, e.Attrs[k])
	}
	r.attrKeys = append(r.attrKeys, keys)
	r.attrValues = append(r.attrValues, r.valArena[start:len(r.valArena):len(r.valArena)])
}

// Insert appends the rows of r to table (an events table, see EventsTable) with one
// column-oriented INSERT, ingested at the time of the call. r keeps its rows; Reset
// empties it for the next batch.
func Insert(ctx context.Context, conn Inserter, table string, r *Rows) (err error) {
	now := time.Now()
	n := r.Len()
	r.ingestedAt = slices.Grow(r.ingestedAt[:0], n)[:n]
	for i := range r.ingestedAt {
		r.ingestedAt[i] = now.Unix()
	}
	ins, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+insertColumns+")")
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	defer func() {
		if cerr := ins.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close insert into %s: %w", table, cerr)
		}
	}()
	for i, col := range []any{
		r.partition, r.offset, r.eventID, r.entityID, r.typ, r.ts, r.tsUS, r.arrivalUS,
		r.value, r.hasValue, r.attrKeys, r.attrValues, r.ingestedAt,
	} {
		if err := ins.Column(i).Append(col); err != nil {
			return fmt.Errorf("insert into %s: column %d: %w", table, i, err)
		}
	}
	if err := ins.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", n, table, err)
	}
	return nil
}
