package archiver

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/master"
)

// ClickHouse is what the archiver needs of a ClickHouse connection
// (clickhouse-go's driver.Conn has it): what master.Insert needs.
type ClickHouse interface {
	PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error)
}

// batch is the messages of one insert: the rows of the home events, as columns,
// and the last message of each partition, whose offsets the commit after the
// insert moves past. Its memory is reused from batch to batch.
type batch struct {
	messages int                     // messages taken, archived or skipped
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

// add takes message m, of a topic with partitions partitions, into the batch. Only
// a home event (kafka.ReadEvent) becomes a row; for any other message add returns
// why it is skipped: reasonStray, or the reason it is invalid. m is taken either
// way, so that the commit moves past it.
func (b *batch) add(m kafkago.Message, partitions int, maxSkew time.Duration) (skip string) {
	b.messages++
	if prev, ok := b.last[m.Partition]; !ok || m.Offset > prev.Offset {
		b.last[m.Partition] = m
	}
	switch read := kafka.ReadEvent(m, partitions, maxSkew); read.Placement {
	case kafka.Home:
		b.rows.Append(int32(m.Partition), m.Offset, read.Event, m.Time)
		return ""
	case kafka.Stray:
		return reasonStray
	default:
		return read.Reason
	}
}
