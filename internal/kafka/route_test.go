package kafka_test

import (
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/kafka"
)

func TestReadEventPlaces(t *testing.T) {
	const n = 6
	now := time.Now()
	value := `{"event_id":"e1","entity_id":"user-7","type":"view","ts":"2026-01-01T00:00:00Z"}`
	home := kafka.PartitionFor([]byte("user-7"), n)
	msg := func(key string, partition int, v string) kafkago.Message {
		m := kafkago.Message{Value: []byte(v), Partition: partition, Time: now}
		if key != "" {
			m.Key = []byte(key)
		}
		return m
	}
	for _, c := range []struct {
		name   string
		m      kafkago.Message
		want   kafka.Placement
		reason string
	}{
		{"home", msg("user-7", home, value), kafka.Home, ""},
		{"another partition", msg("user-7", (home+1)%n, value), kafka.Stray, ""},
		{"keyless", msg("", home, value), kafka.Stray, ""},
		{"another key", msg("user-8", home, value), kafka.Stray, ""},
		{"not json", msg("user-7", home, "{"), kafka.Invalid, kafka.ReasonSyntax},
		{"no ts", msg("user-7", home, `{"event_id":"e1","entity_id":"user-7","type":"view"}`), kafka.Invalid, kafka.ReasonField},
		{"from 2100", msg("user-7", home, `{"event_id":"e1","entity_id":"user-7","type":"view","ts":"2100-01-01T00:00:00Z"}`),
			kafka.Invalid, kafka.ReasonClockSkew},
	} {
		r := kafka.ReadEvent(c.m, n, 5*time.Minute)
		if r.Placement != c.want || r.Reason != c.reason {
			t.Errorf("%s: placement %v reason %q (%v), want %v %q", c.name, r.Placement, r.Reason, r.Err, c.want, c.reason)
		}
		if r.Placement != kafka.Invalid && (r.Home != home || r.Event.EventID != "e1") {
			t.Errorf("%s: home %d event %+v, want %d and the event", c.name, r.Home, r.Event, home)
		}
	}
}
