package event_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
)

func TestValidate(t *testing.T) {
	with := func(f func(*event.Event)) event.Event {
		e := baseEvent()
		f(&e)
		return e
	}
	bigAttrs := map[string]string{}
	for i := range event.MaxAttrs {
		bigAttrs[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", event.MaxAttrValueBytes)
	}
	tooManyAttrs := map[string]string{}
	for i := range event.MaxAttrs + 1 {
		tooManyAttrs[fmt.Sprint(i)] = ""
	}
	tests := []struct {
		name   string
		e      event.Event
		field  string // "" for a valid event
		reason string
	}{
		{"valid", baseEvent(), "", ""},
		{"valid full", with(func(e *event.Event) {
			e.Value = ptr(-2.5)
			e.Attrs = map[string]string{"device": "web", "note": "tab\there"}
		}), "", ""},
		{"valid non-UTC ts", with(func(e *event.Event) { e.TS = e.TS.In(time.FixedZone("X", 3600)) }), "", ""},
		{"event_id empty", with(func(e *event.Event) { e.EventID = "" }), "event_id", "must not be empty"},
		{"entity_id control", with(func(e *event.Event) { e.EntityID = "a\x00" }), "entity_id", "must not contain control characters"},
		{"entity_id C1 control", with(func(e *event.Event) { e.EntityID = "a\u0090" }), "entity_id", "must not contain control characters"},
		{"type invalid UTF-8", with(func(e *event.Event) { e.Type = "\xff" }), "type", "must be valid UTF-8"},
		{"type too long", with(func(e *event.Event) { e.Type = strings.Repeat("t", 65) }), "type", "must be at most 64 bytes"},
		{"ts zero", with(func(e *event.Event) { e.TS = time.Time{} }), "ts", "must be set"},
		{"ts year 10000", with(func(e *event.Event) { e.TS = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }), "ts", "within years 0000-9999"},
		{"ts year -1", with(func(e *event.Event) { e.TS = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }), "ts", "within years 0000-9999"},
		{"value NaN", with(func(e *event.Event) { e.Value = ptr(math.NaN()) }), "value", "must be a finite number, got NaN"},
		{"value Inf", with(func(e *event.Event) { e.Value = ptr(math.Inf(-1)) }), "value", "must be a finite number, got -Inf"},
		{"attr empty key", with(func(e *event.Event) { e.Attrs = map[string]string{"": "x"} }), "attrs", "keys must not be empty"},
		{"attr key too long", with(func(e *event.Event) { e.Attrs = map[string]string{strings.Repeat("k", 129): "x"} }), "attrs." + strings.Repeat("k", 64) + "...", "must be at most 128 bytes"},
		{"attr value too long", with(func(e *event.Event) { e.Attrs = map[string]string{"a": strings.Repeat("v", 1025)} }), "attrs.a", "must be at most 1024 bytes"},
		{"attr value invalid UTF-8", with(func(e *event.Event) { e.Attrs = map[string]string{"a": "\xc3("} }), "attrs.a", "must be valid UTF-8"},
		{"first bad attr by key", with(func(e *event.Event) {
			e.Attrs = map[string]string{"z": "\xff", "b": "\xff", "m": "\xff", "a": "ok", "c\x01": "x"}
		}), "attrs.b", "must be valid UTF-8"},
		{"too many attrs", with(func(e *event.Event) { e.Attrs = tooManyAttrs }), "attrs", "must have at most 64 entries, got 65"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := event.Validate(tt.e)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var fe *event.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("Validate = %v, want a *FieldError matching ErrInvalid", err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("Validate = field %q reason %q, want field %q reason containing %q", fe.Field, fe.Reason, tt.field, tt.reason)
			}
		})
	}
	t.Run("encoded too large", func(t *testing.T) {
		err := event.Validate(with(func(e *event.Event) { e.Attrs = bigAttrs }))
		if !errors.Is(err, event.ErrTooLarge) || !errors.Is(err, event.ErrInvalid) {
			t.Fatalf("Validate = %v, want ErrTooLarge and ErrInvalid", err)
		}
	})
}

// Decode and Validate agree: every decoded event is valid.
func TestValidateAcceptsDecoded(t *testing.T) {
	e := mustDecode(t, doc("value", "3", "attrs", `{"a":1,"b":true,"c":"x"}`))
	if err := event.Validate(e); err != nil {
		t.Fatalf("Validate(Decode(...)) = %v", err)
	}
}
