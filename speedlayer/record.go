package speedlayer

import (
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
)

// skipStray is the reason label of a stray event skipped (its copy at home is folded).
const skipStray = "stray"

// record is a fetched message: an event to fold, or why it is skipped.
type record struct {
	partition int
	offset    int64
	hwm       int64     // the partition's high watermark when fetched
	time      time.Time // the message's Kafka timestamp
	fetched   time.Time // when the fetcher read it
	ev        event.Event
	// skip is empty for a home event, which is folded; otherwise skipStray or the
	// reason the message is invalid (the forwarder copies both kinds on).
	skip string
}

// decodeRecord places m, one of partitions partitions of its topic, by the rule
// every reader of the topic shares (kafka.ReadEvent). A home event is folded at
// event.FoldTime: never after its arrival.
func decodeRecord(m kafkago.Message, partitions int, maxSkew time.Duration) record {
	r := record{partition: m.Partition, offset: m.Offset, hwm: m.HighWaterMark, time: m.Time}
	switch read := kafka.ReadEvent(m, partitions, maxSkew); read.Placement {
	case kafka.Home:
		r.ev = read.Event
		r.ev.TS = event.FoldTime(r.ev.TS, m.Time)
	case kafka.Stray:
		r.skip = skipStray
	default:
		r.skip = read.Reason
	}
	return r
}
