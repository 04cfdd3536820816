package kafka

import (
	"bytes"
	"errors"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
)

// Placement is where a message of the events topic stands. Every reader of the
// topic decides it with ReadEvent, so that the layers agree on what they count.
type Placement int

const (
	// Home: a valid event in its entity's home partition, keyed by its entity_id.
	// The archiver and the speed layer fold exactly these.
	Home Placement = iota
	// Stray: a valid event in another partition or under another key (a producer
	// with another partitioner, or no key). The forwarder copies it to its home
	// partition; the layers skip the original and count the copy.
	Stray
	// Invalid: not a valid event. The forwarder dead-letters it with its reason;
	// the layers skip it.
	Invalid
)

// Reasons a message is invalid: the dlq.reason header of its dead letter and the
// reason label of the metrics that count them.
const (
	ReasonSyntax    = "syntax"     // not the JSON of an event
	ReasonField     = "field"      // a field breaks the event schema
	ReasonTooLarge  = "too_large"  // over a size limit of the schema
	ReasonClockSkew = "clock_skew" // ts too far ahead of the message's timestamp
)

// HeaderForwardedFrom is the header a forwarded copy carries: where the original
// was, as "partition/offset".
const HeaderForwardedFrom = "lambda.forwarded-from"

// EventRead is a message of the events topic as every reader sees it.
type EventRead struct {
	Placement Placement
	// Event is the decoded event of Home and Stray messages, ts as sent.
	Event event.Event
	// Home is the partition the event belongs in (Home and Stray).
	Home int
	// Reason and Err say why an Invalid message is one.
	Reason string
	Err    error
}

// ReadEvent decodes m, a message of the events topic with partitions partitions,
// and places it. An event is valid when it passes event.Decode and its ts is at most
// maxSkew after the message's timestamp (event.CheckArrival).
func ReadEvent(m kafkago.Message, partitions int, maxSkew time.Duration) EventRead {
	ev, err := event.Decode(m.Value)
	if err == nil {
		err = event.CheckArrival(ev.TS, m.Time, maxSkew)
	}
	if err != nil {
		return EventRead{Placement: Invalid, Reason: InvalidReason(err), Err: err}
	}
	r := EventRead{Placement: Stray, Event: ev, Home: PartitionFor(ev.Key(), partitions)}
	if r.Home == m.Partition && bytes.Equal(m.Key, ev.Key()) {
		r.Placement = Home
	}
	return r
}

// InvalidReason maps an error of event.Decode or event.CheckArrival to its reason.
func InvalidReason(err error) string {
	var syntax *event.SyntaxError
	switch {
	case errors.Is(err, event.ErrClockSkew):
		return ReasonClockSkew
	case errors.Is(err, event.ErrTooLarge):
		return ReasonTooLarge
	case errors.As(err, &syntax):
		return ReasonSyntax
	}
	return ReasonField
}
