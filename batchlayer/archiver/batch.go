package archiver

import (
	"context"
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/master"
)

// ClickHouse is what the archiver needs of a ClickHouse connection
// (clickhouse-go's driver.Conn has it): what master.Insert needs.
type ClickHouse interface {
	PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error)
}

// batch is the messages of one insert: the rows of the valid ones, as columns,
// and the last message of each partition, whose offsets the commit after the
// insert moves past. Its memory is reused from batch to batch.
type batch struct {
	messages int                     // messages taken, archived or rejected
	last     map[int]kafkago.Message // highest-offset message per partition
	rows     master.Rows
}

func newBatch() *batch {
	return &batch{last: map[int]kafkago.Message{}}
}

// reset empties b for the next batch, keeping its memory.
func (b *batch) reset() {
	b.messages = 0
	clear(b.last)
	b.rows.Reset()
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
	b.rows.Append(int32(m.Partition), m.Offset, e)
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
