package kafka

import (
	"context"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
)

// EventMessage is the Kafka message of an event: key entity_id, value its canonical JSON,
// timestamp left to the producer's clock (the event time is in the value).
func EventMessage(e event.Event) kafkago.Message {
	return kafkago.Message{Key: e.Key(), Value: event.Encode(e)}
}

// WriteEvents produces events, each keyed by its entity, and returns once all are acknowledged.
func (w *Writer) WriteEvents(ctx context.Context, events []event.Event) error {
	msgs := make([]kafkago.Message, len(events))
	for i, e := range events {
		msgs[i] = EventMessage(e)
	}
	return w.WriteMessages(ctx, msgs...)
}
