package speedlayer

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
)

// Reasons a message goes to the dead-letter topic (the dlq.reason header and the
// reason label of lambda_speed_dlq_messages_total).
const (
	ReasonSyntax         = "syntax"          // not the JSON of an event
	ReasonField          = "field"           // a field breaks the event schema
	ReasonTooLarge       = "too_large"       // over a size limit of the schema
	ReasonKeyMismatch    = "key_mismatch"    // the message key is not the entity_id
	ReasonWrongPartition = "wrong_partition" // not in the partition its key hashes to
)

// Headers the speed layer adds to a dead-lettered message, after the original ones.
const (
	HeaderReason    = "dlq.reason"    // one of the Reason constants
	HeaderError     = "dlq.error"     // the error in words
	HeaderTopic     = "dlq.topic"     // where the message was read
	HeaderPartition = "dlq.partition" // its partition, decimal
	HeaderOffset    = "dlq.offset"    // its offset, decimal
	HeaderConsumer  = "dlq.consumer"  // the consumer group that rejected it
)

// record is a fetched message: a valid event, or the reason it is not one.
type record struct {
	partition int
	offset    int64
	hwm       int64     // the partition's high watermark when fetched
	time      time.Time // the message's Kafka timestamp
	fetched   time.Time // when the fetcher read it
	ev        event.Event
	reason    string          // empty for a valid event
	err       error           // why, when reason is set
	msg       kafkago.Message // kept for the dead-letter topic when reason is set
}

// decodeRecord decodes m, one of partitions partitions of its topic.
func decodeRecord(m kafkago.Message, partitions int) record {
	r := record{partition: m.Partition, offset: m.Offset, hwm: m.HighWaterMark, time: m.Time}
	ev, err := event.Decode(m.Value)
	switch {
	case err != nil:
		r.reason, r.err = decodeReason(err), err
	case !bytes.Equal(m.Key, []byte(ev.EntityID)):
		r.reason, r.err = ReasonKeyMismatch, fmt.Errorf("message key %q is not the entity_id %q", m.Key, ev.EntityID)
	case kafka.PartitionFor(m.Key, partitions) != m.Partition:
		r.reason, r.err = ReasonWrongPartition, fmt.Errorf("key %q belongs in partition %d of %d, found in %d",
			m.Key, kafka.PartitionFor(m.Key, partitions), partitions, m.Partition)
	default:
		r.ev = ev
		return r
	}
	r.msg = m
	return r
}

func decodeReason(err error) string {
	var syntax *event.SyntaxError
	switch {
	case errors.Is(err, event.ErrTooLarge):
		return ReasonTooLarge
	case errors.As(err, &syntax):
		return ReasonSyntax
	}
	return ReasonField
}

// deadLetter is the dead-letter copy of a rejected record: the original key,
// value, timestamp and headers, plus the dlq.* headers.
func deadLetter(r record, group string) kafkago.Message {
	m := r.msg
	headers := append(m.Headers[:len(m.Headers):len(m.Headers)],
		kafkago.Header{Key: HeaderReason, Value: []byte(r.reason)},
		kafkago.Header{Key: HeaderError, Value: []byte(r.err.Error())},
		kafkago.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
		kafkago.Header{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
		kafkago.Header{Key: HeaderOffset, Value: strconv.AppendInt(nil, m.Offset, 10)},
		kafkago.Header{Key: HeaderConsumer, Value: []byte(group)},
	)
	return kafkago.Message{Key: m.Key, Value: m.Value, Headers: headers, Time: m.Time}
}
