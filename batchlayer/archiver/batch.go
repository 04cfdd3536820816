package archiver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
)

// insertColumns lists the columns of the events table the archiver writes, in
// the order batch.insert appends them.
const insertColumns = "kafka_partition, kafka_offset, event_id, entity_id, type, ts, ts_us, " +
	"value, has_value, attrs_keys, attrs_values, ingested_at"

// ClickHouse is what the archiver needs of a ClickHouse connection
// (clickhouse-go's driver.Conn has it).
type ClickHouse interface {
	PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error)
}

// batch is the messages of one insert: the rows of the valid ones, as columns,
// and the last message of each partition, whose offsets the commit after the
// insert moves past. Its slices are reused from batch to batch.
type batch struct {
	messages int                     // messages taken, archived or rejected
	last     map[int]kafkago.Message // highest-offset message per partition

	partition  []int32
	offset     []int64
	eventID    []string
	entityID   []string
	typ        []string
	ts         []int64 // seconds, clamped to the DateTime range
	tsUS       []int64
	value      []float64
	hasValue   []uint8
	attrKeys   [][]string // each a slice of keyArena
	attrValues [][]string // each a slice of valArena
	keyArena   []string
	valArena   []string
	ingestedAt []int64 // filled at insert time
}

func newBatch() *batch {
	return &batch{last: map[int]kafkago.Message{}}
}

// rows is the number of rows to insert.
func (b *batch) rows() int { return len(b.partition) }

// reset empties b for the next batch, keeping its memory.
func (b *batch) reset() {
	b.messages = 0
	clear(b.last)
	b.partition, b.offset = b.partition[:0], b.offset[:0]
	b.eventID, b.entityID, b.typ = b.eventID[:0], b.entityID[:0], b.typ[:0]
	b.ts, b.tsUS = b.ts[:0], b.tsUS[:0]
	b.value, b.hasValue = b.value[:0], b.hasValue[:0]
	b.attrKeys, b.attrValues = b.attrKeys[:0], b.attrValues[:0]
	b.keyArena, b.valArena = b.keyArena[:0], b.valArena[:0]
}

// add takes message m into the batch. If m is not a valid event keyed by its
// entity_id it adds no row and returns the reason and the error; m is still
// taken, so that the commit moves past it.
func (b *batch) add(m kafkago.Message) (reason string, err error) {
	b.messages++
	if prev, ok := b.last[m.Partition]; !ok || m.Offset > prev.Offset {
		b.last[m.Partition] = m
	}
	e, err := event.Decode(m.Value)
	if err != nil {
		return rejectReason(err), err
	}
	if string(m.Key) != e.EntityID {
		return reasonKeyMismatch, fmt.Errorf("message key %q is not the entity_id %q", m.Key, e.EntityID)
	}
	b.partition = append(b.partition, int32(m.Partition))
	b.offset = append(b.offset, m.Offset)
	b.eventID = append(b.eventID, e.EventID)
	b.entityID = append(b.entityID, e.EntityID)
	b.typ = append(b.typ, e.Type)
	b.ts = append(b.ts, min(max(e.TS.Unix(), 0), math.MaxUint32))
	b.tsUS = append(b.tsUS, e.TS.UnixMicro())
	if e.Value != nil {
		b.value, b.hasValue = append(b.value, *e.Value), append(b.hasValue, 1)
	} else {
		b.value, b.hasValue = append(b.value, 0), append(b.hasValue, 0)
	}
	start := len(b.keyArena)
	for k := range e.Attrs {
		b.keyArena = append(b.keyArena, k)
	}
	keys := b.keyArena[start:len(b.keyArena):len(b.keyArena)]
	slices.Sort(keys)
	for _, k := range keys {
		b.valArena = append(b.valArena, e.Attrs[k])
	}
	b.attrKeys = append(b.attrKeys, keys)
	// The arenas grow together, a value for each key.
	b.attrValues = append(b.attrValues, b.valArena[start:len(b.valArena):len(b.valArena)])
	return "", nil
}

// rejectReason maps a Decode error to a rejected metric reason.
func rejectReason(err error) string {
	var syntax *event.SyntaxError
	switch {
	case errors.Is(err, event.ErrTooLarge):
		return reasonTooLarge
	case errors.As(err, &syntax):
		return reasonSyntax
	}
	return reasonField
}

// insert writes the rows of b into table with one column-oriented INSERT,
// ingested at now.
func (b *batch) insert(ctx context.Context, ch ClickHouse, table string, now time.Time) (err error) {
	n := b.rows()
	b.ingestedAt = slices.Grow(b.ingestedAt[:0], n)[:n]
	for i := range b.ingestedAt {
		b.ingestedAt[i] = now.Unix()
	}
	ins, err := ch.PrepareBatch(ctx, "INSERT INTO "+table+" ("+insertColumns+")")
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", table, err)
	}
	defer func() {
		if cerr := ins.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close insert into %s: %w", table, cerr)
		}
	}()
	for i, col := range []any{
		b.partition, b.offset, b.eventID, b.entityID, b.typ, b.ts, b.tsUS,
		b.value, b.hasValue, b.attrKeys, b.attrValues, b.ingestedAt,
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
