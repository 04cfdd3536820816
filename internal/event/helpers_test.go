package event_test

import (
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
)

// baseFields are the required fields of a valid document, in order.
var baseFields = [][2]string{
	{"event_id", `"e-1"`},
	{"entity_id", `"user-000001"`},
	{"type", `"view"`},
	{"ts", `"2026-01-02T15:04:05Z"`},
}

// doc returns a valid event document with fields replaced by raw JSON values
// given as name, value pairs: a value of "" drops the field, and fields not in
// baseFields are appended in the order given.
func doc(kv ...string) string {
	over := map[string]string{}
	var extra []string
	for i := 0; i < len(kv); i += 2 {
		over[kv[i]] = kv[i+1]
		if !isBase(kv[i]) {
			extra = append(extra, kv[i])
		}
	}
	var parts []string
	for _, f := range baseFields {
		v, ok := over[f[0]]
		if !ok {
			v = f[1]
		}
		if v != "" {
			parts = append(parts, `"`+f[0]+`":`+v)
		}
	}
	for _, name := range extra {
		parts = append(parts, `"`+name+`":`+over[name])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func isBase(name string) bool {
	for _, f := range baseFields {
		if f[0] == name {
			return true
		}
	}
	return false
}

// baseEvent is the event of doc().
func baseEvent() event.Event {
	return event.Event{
		EventID:  "e-1",
		EntityID: "user-000001",
		Type:     "view",
		TS:       time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	}
}

func ptr(v float64) *float64 { return &v }

// equal reports whether two events are the same, field by field: ts must be the
// same instant in the same location, value the same bits, nil and empty attrs
// distinct.
func equal(a, b event.Event) bool {
	if a.EventID != b.EventID || a.EntityID != b.EntityID || a.Type != b.Type || a.TS != b.TS {
		return false
	}
	if (a.Value == nil) != (b.Value == nil) ||
		a.Value != nil && math.Float64bits(*a.Value) != math.Float64bits(*b.Value) {
		return false
	}
	return (a.Attrs == nil) == (b.Attrs == nil) && maps.Equal(a.Attrs, b.Attrs)
}

func mustDecode(t *testing.T, s string) event.Event {
	t.Helper()
	e, err := event.Decode([]byte(s))
	if err != nil {
		t.Fatalf("Decode(%.200s): %v", s, err)
	}
	return e
}
