package event_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
)

func TestEncodeCanonical(t *testing.T) {
	e := event.Event{
		EventID:  `e-"1"\`,
		EntityID: "user-000001",
		Type:     "purchase",
		TS:       time.Date(2026, 1, 2, 16, 4, 5, 120000000, time.FixedZone("CET", 3600)),
		Value:    ptr(1e21),
		Attrs:    map[string]string{"z": "last", "a": "tab\tnew\nline\x01", "m": "é<>&\u2028"},
	}
	const want = `{"event_id":"e-\"1\"\\","entity_id":"user-000001","type":"purchase","ts":"2026-01-02T15:04:05.12Z",` +
		`"value":1e+21,"attrs":{"a":"tab\tnew\nline\u0001","m":"é<>&` + "\u2028" + `","z":"last"}}`
	if got := string(event.Encode(e)); got != want {
		t.Errorf("Encode =\n%s\nwant\n%s", got, want)
	}
	if got := event.AppendJSON([]byte("x"), e); string(got) != "x"+want {
		t.Errorf("AppendJSON does not append: %s", got)
	}
	if !json.Valid(event.Encode(e)) {
		t.Error("Encode output is not valid JSON")
	}
}

func TestRoundTrip(t *testing.T) {
	attrs := map[string]string{}
	for i := range event.MaxAttrs {
		attrs[strings.Repeat("k", i+1)] = strings.Repeat("\"\\\x1f", i)
	}
	events := []event.Event{
		baseEvent(),
		{EventID: "évènement-✓", EntityID: "u\"1\\", Type: "t/1", TS: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Value: ptr(0)},
		{EventID: "e", EntityID: "u", Type: "t", TS: time.Date(0, 1, 1, 0, 0, 0, 1, time.UTC), Value: ptr(math.Copysign(0, -1))},
		{EventID: "e", EntityID: "u", Type: "t", TS: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Value: ptr(math.MaxFloat64)},
		{EventID: "e", EntityID: "u", Type: "t", TS: time.Unix(1767366245, 5).In(time.FixedZone("", -7*3600)), Value: ptr(-5e-324)},
		{EventID: "e", EntityID: "u", Type: "t", TS: time.Now(), Value: ptr(0.1), Attrs: attrs},
	}
	for i, e := range events {
		if err := event.Validate(e); err != nil {
			t.Fatalf("event %d: Validate = %v", i, err)
		}
		enc := event.Encode(e)
		got, err := event.Decode(enc)
		if err != nil {
			t.Fatalf("event %d: Decode(%s) = %v", i, enc, err)
		}
		want := e
		want.TS = e.TS.UTC().Round(0)
		if !equal(got, want) {
			t.Errorf("event %d: round trip\n got %+v\nwant %+v", i, got, want)
		}
		if again := event.Encode(got); !bytes.Equal(again, enc) {
			t.Errorf("event %d: encoding is not canonical:\n%s\n%s", i, enc, again)
		}
	}
}
