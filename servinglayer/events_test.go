package servinglayer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

func validEvent(id, entity string) string {
	return fmt.Sprintf(`{"event_id":%q,"entity_id":%q,"type":"click","ts":"2026-01-02T15:04:05Z","value":1.5,"attrs":{"device":"ios"}}`, id, entity)
}

func TestPostEvents(t *testing.T) {
	s := newStack(t, stackOptions{kafka: true})

	r := s.post("/v1/events", validEvent("e-1", "user-1"))
	var got api.EventsAccepted
	r.json(t, &got)
	if r.status != http.StatusAccepted || got.Accepted != 1 || got.Rejected != 0 || len(got.Rejections) != 0 {
		t.Errorf("one event: status %d: %s", r.status, r.body)
	}

	batch := "[" + strings.Join([]string{
		validEvent("e-2", "user-2"),
		`{"event_id":"e-3","entity_id":"user-3","type":"click"}`,
		validEvent("e-4", "user-1"),
		`{"event_id":"e-5","entity_id":"user-3","type":"click","ts":"2026-01-02T15:04:05Z","value":"high"}`,
		`17`,
	}, ",") + "]"
	r = s.post("/v1/events", batch)
	got = api.EventsAccepted{}
	r.json(t, &got)
	if r.status != http.StatusAccepted || got.Accepted != 2 || got.Rejected != 3 || len(got.Rejections) != 3 {
		t.Fatalf("batch: status %d: %s", r.status, r.body)
	}
	for i, want := range []struct {
		index int
		field string
	}{{1, `"ts"`}, {3, `"value"`}, {4, "'{'"}} {
		if rej := got.Rejections[i]; rej.Index != want.index || !strings.Contains(rej.Error, want.field) {
			t.Errorf("rejection %d: %+v; want index %d naming %s", i, rej, want.index, want.field)
		}
	}

	r = s.post("/v1/events", `[{"event_id":"e-6"}]`)
	got = api.EventsAccepted{}
	r.json(t, &got)
	if r.status != http.StatusBadRequest || got.Accepted != 0 || got.Rejected != 1 || got.Error == nil {
		t.Errorf("no valid event: status %d: %s", r.status, r.body)
	}

	// Everything accepted is in the topic, keyed by entity.
	want := []string{"e-1 user-1", "e-2 user-2", "e-4 user-1"}
	var read []string
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for p := range 3 {
		conn, err := kafkago.DialLeader(ctx, "tcp", s.brokers[0], s.topic, p)
		if err != nil {
			t.Fatal(err)
		}
		end, err := conn.ReadLastOffset()
		_ = conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		rd := kafkago.NewReader(kafkago.ReaderConfig{Brokers: s.brokers, Topic: s.topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for range end {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e, err := event.Decode(m.Value)
			if err != nil || string(m.Key) != e.EntityID {
				t.Fatalf("message %s / %s: %v", m.Key, m.Value, err)
			}
			read = append(read, e.EventID+" "+e.EntityID)
		}
		_ = rd.Close()
	}
	slices.Sort(read)
	if !slices.Equal(read, want) {
		t.Errorf("topic holds %v, want %v", read, want)
	}
}

// failingProducer cannot reach the event log.
type failingProducer struct{}

func (failingProducer) WriteEvents(context.Context, []event.Event) error {
	return errors.New("kafka: dial tcp 127.0.0.1:9092: connect: connection refused")
}

func TestPostEventsBrokerDown(t *testing.T) {
	srv, err := servinglayer.NewServer(servinglayer.Deps{Producer: failingProducer{}}, servinglayer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, client: http.DefaultClient, url: serve(t, srv)}
	r := s.post("/v1/events", validEvent("e-1", "user-1"))
	if msg := r.errorText(t); r.status != http.StatusServiceUnavailable || !strings.Contains(msg, "event log") {
		t.Errorf("status %d %q; want 503 about the event log", r.status, msg)
	}
}
