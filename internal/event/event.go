// Package event defines the platform's one event schema: the JSON document that
// producers write to the `events` topic (key = entity_id) and that both layers fold.
//
// An event is one JSON object:
//
//	{"event_id":"e-1","entity_id":"user-000123","type":"purchase",
//	 "ts":"2026-01-02T15:04:05.123Z","value":19.99,"attrs":{"device":"ios","qty":2}}
//
// Decode accepts exactly that shape and nothing else:
//   - event_id, entity_id, type and ts are required, non-empty strings; other fields
//     are rejected, and so is any field given twice;
//   - ts is an RFC 3339 time (fractional seconds up to nanoseconds), kept in UTC, and
//     must fall within the years 0000–9999 once in UTC and not be the zero time;
//   - value is optional: a finite JSON number, or null for "absent";
//   - attrs is optional: a flat object whose values are strings, numbers or booleans.
//     Numbers keep their JSON literal text ("1.50" stays "1.50") and booleans become
//     "true"/"false"; null values, nested objects and arrays are rejected;
//   - every string is valid UTF-8 (lone UTF-16 surrogates in \u escapes count as
//     invalid); ids, type and attribute keys contain no control characters (C0, DEL, C1);
//   - size limits: MaxEventBytes for the document, MaxIDBytes, MaxTypeBytes, MaxAttrs,
//     MaxAttrKeyBytes and MaxAttrValueBytes; the document ends after the object.
//
// Every rejection is an error matching ErrInvalid: a *FieldError naming the field, a
// *SyntaxError giving the byte offset, or a size error also matching ErrTooLarge.
// Validate applies the same rules to events built in Go, and Encode writes the
// canonical form, so Decode(Encode(e)) returns e, its ts in UTC, for every e that
// passes Validate.
//
// The decoder is a hand-written single-pass scanner rather than encoding/json: it sits
// on the ingest hot path, it must reject duplicate keys and report the exact field,
// and it is several times faster than json.Unmarshal into Event (see BenchmarkDecode).
package event

import "time"

// Event is one immutable fact about an entity.
type Event struct {
	EventID  string            `json:"event_id"`        // unique per event; duplicates are folded once
	EntityID string            `json:"entity_id"`       // the Kafka message key
	Type     string            `json:"type"`            // e.g. "view", "click", "purchase", "label"
	TS       time.Time         `json:"ts"`              // event time (RFC 3339), not arrival time
	Value    *float64          `json:"value,omitempty"` // optional measurement
	Attrs    map[string]string `json:"attrs,omitempty"` // optional flat attributes
}

// Key is the Kafka message key: every event of an entity lands in one partition.
func (e Event) Key() []byte { return []byte(e.EntityID) }
