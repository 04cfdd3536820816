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

func TestDecodeValid(t *testing.T) {
	at := func(sec, nsec int) time.Time { return time.Date(2026, 1, 2, 15, 4, sec, nsec, time.UTC) }
	with := func(f func(*event.Event)) event.Event {
		e := baseEvent()
		f(&e)
		return e
	}
	manyAttrs := map[string]string{}
	var manyAttrsJSON []string
	for i := range event.MaxAttrs {
		k := fmt.Sprintf("k%02d", i)
		manyAttrs[k] = "v"
		manyAttrsJSON = append(manyAttrsJSON, fmt.Sprintf(`%q:"v"`, k))
	}
	longKey, longVal := strings.Repeat("k", event.MaxAttrKeyBytes), strings.Repeat("é", event.MaxAttrValueBytes/2)

	tests := []struct {
		name string
		in   string
		want event.Event
	}{
		{"minimal", doc(), baseEvent()},
		{"all fields", doc("value", "19.99", "attrs", `{"device":"ios","qty":2,"gift":true,"promo":false}`), with(func(e *event.Event) {
			e.Value = ptr(19.99)
			e.Attrs = map[string]string{"device": "ios", "qty": "2", "gift": "true", "promo": "false"}
		})},
		{"fields in any order", `{"ts":"2026-01-02T15:04:05Z","type":"view","attrs":{},"entity_id":"user-000001","event_id":"e-1"}`, baseEvent()},
		{"space everywhere", " \n\t{ \"event_id\" : \"e-1\" ,\r\n\"entity_id\":\"user-000001\" , \"type\":\"view\",\"ts\" :\"2026-01-02T15:04:05Z\" } \n", baseEvent()},
		{"value null is absent", doc("value", "null"), baseEvent()},
		{"attrs null is absent", doc("attrs", "null"), baseEvent()},
		{"attrs empty is absent", doc("attrs", "{ }"), baseEvent()},
		{"value negative zero", doc("value", "-0"), with(func(e *event.Event) { e.Value = ptr(math.Copysign(0, -1)) })},
		{"value exponent", doc("value", "-1.5E+3"), with(func(e *event.Event) { e.Value = ptr(-1500) })},
		{"value underflow is zero", doc("value", "1e-400"), with(func(e *event.Event) { e.Value = ptr(0) })},
		{"value largest", doc("value", "1.7976931348623157e308"), with(func(e *event.Event) { e.Value = ptr(math.MaxFloat64) })},
		{"attr numbers keep their text", doc("attrs", `{"a":1.50,"b":-0,"c":1e3,"d":0.0}`), with(func(e *event.Event) {
			e.Attrs = map[string]string{"a": "1.50", "b": "-0", "c": "1e3", "d": "0.0"}
		})},
		{"attr empty string value", doc("attrs", `{"a":""}`), with(func(e *event.Event) { e.Attrs = map[string]string{"a": ""} })},
		{"ts offset to UTC", doc("ts", `"2026-01-02T16:04:05+01:00"`), baseEvent()},
		{"ts nanoseconds", doc("ts", `"2026-01-02T15:04:05.123456789Z"`), with(func(e *event.Event) { e.TS = at(5, 123456789) })},
		{"ts millis with offset", doc("ts", `"2026-01-02T10:34:05.5-04:30"`), with(func(e *event.Event) { e.TS = at(5, 500000000) })},
		{"ts earliest", doc("ts", `"0000-01-01T00:00:00Z"`), with(func(e *event.Event) { e.TS = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"ts latest", doc("ts", `"9999-12-31T23:59:59.999999999Z"`), with(func(e *event.Event) { e.TS = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) })},
		{"escapes", doc("event_id", `"a\"b\\c\/d\u00e9\ud83d\ude00"`), with(func(e *event.Event) { e.EventID = "a\"b\\c/dé😀" })},
		{"control escapes in attr value", doc("attrs", `{"note":"a\tb\nc\u0000\b\f\r"}`), with(func(e *event.Event) { e.Attrs = map[string]string{"note": "a\tb\nc\x00\b\f\r"} })},
		{"escaped field name", `{"\u0065vent_id":"e-1","entity_id":"user-000001","type":"view","\u0074s":"2026-01-02T15:04:05Z"}`, baseEvent()},
		{"raw UTF-8", doc("entity_id", `"usér-✓"`), with(func(e *event.Event) { e.EntityID = "usér-✓" })},
		{"id at limit", doc("event_id", `"`+strings.Repeat("x", event.MaxIDBytes)+`"`), with(func(e *event.Event) { e.EventID = strings.Repeat("x", event.MaxIDBytes) })},
		{"type at limit", doc("type", `"`+strings.Repeat("t", event.MaxTypeBytes)+`"`), with(func(e *event.Event) { e.Type = strings.Repeat("t", event.MaxTypeBytes) })},
		{"attrs at count limit", doc("attrs", "{"+strings.Join(manyAttrsJSON, ",")+"}"), with(func(e *event.Event) { e.Attrs = manyAttrs })},
		{"attr key and value at limit", doc("attrs", fmt.Sprintf(`{%q:%q}`, longKey, longVal)), with(func(e *event.Event) { e.Attrs = map[string]string{longKey: longVal} })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustDecode(t, tt.in)
			if !equal(got, tt.want) {
				t.Errorf("Decode(%.200s)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeFieldErrors(t *testing.T) {
	long := func(n int) string { return `"` + strings.Repeat("x", n) + `"` }
	attrs := func(n int) string {
		var kv []string
		for i := range n {
			kv = append(kv, fmt.Sprintf(`"k%d":1`, i))
		}
		return "{" + strings.Join(kv, ",") + "}"
	}
	tests := []struct {
		name   string
		in     string
		field  string
		reason string // a substring of the reason
	}{
		{"event_id missing", doc("event_id", ""), "event_id", "is required"},
		{"entity_id missing", doc("entity_id", ""), "entity_id", "is required"},
		{"type missing", doc("type", ""), "type", "is required"},
		{"ts missing", doc("ts", ""), "ts", "is required"},
		{"empty object", `{}`, "event_id", "is required"},
		{"event_id empty", doc("event_id", `""`), "event_id", "must not be empty"},
		{"event_id number", doc("event_id", `12`), "event_id", "must be a string, got number"},
		{"event_id null", doc("event_id", `null`), "event_id", "must be a string, got null"},
		{"event_id object", doc("event_id", `{"a":1}`), "event_id", "must be a string, got object"},
		{"event_id too long", doc("event_id", long(event.MaxIDBytes+1)), "event_id", "must be at most 256 bytes, got 257"},
		{"event_id control char", doc("event_id", `"a\u0001b"`), "event_id", "must not contain control characters"},
		{"event_id newline", doc("event_id", `"a\nb"`), "event_id", "must not contain control characters"},
		{"event_id DEL", doc("event_id", "\"a\x7fb\""), "event_id", "must not contain control characters"},
		{"event_id C1 control", doc("event_id", `"a\u0085b"`), "event_id", "must not contain control characters"},
		{"event_id invalid UTF-8", doc("event_id", "\"a\xffb\""), "event_id", "must be valid UTF-8"},
		{"event_id lone surrogate", doc("event_id", `"a\ud800b"`), "event_id", "must be valid UTF-8"},
		{"event_id low surrogate first", doc("event_id", `"\udc00\ud800"`), "event_id", "must be valid UTF-8"},
		{"entity_id empty", doc("entity_id", `""`), "entity_id", "must not be empty"},
		{"entity_id too long", doc("entity_id", long(event.MaxIDBytes+1)), "entity_id", "must be at most 256 bytes"},
		{"entity_id bool", doc("entity_id", `true`), "entity_id", "must be a string, got boolean"},
		{"entity_id tab", doc("entity_id", `"u\t1"`), "entity_id", "must not contain control characters"},
		{"type too long", doc("type", long(event.MaxTypeBytes+1)), "type", "must be at most 64 bytes, got 65"},
		{"type array", doc("type", `["view"]`), "type", "must be a string, got array"},
		{"type empty", doc("type", `""`), "type", "must not be empty"},
		{"ts words", doc("ts", `"yesterday"`), "ts", `must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got "yesterday"`},
		{"ts date only", doc("ts", `"2026-01-02"`), "ts", "must be an RFC 3339 time"},
		{"ts no zone", doc("ts", `"2026-01-02T15:04:05"`), "ts", "must be an RFC 3339 time"},
		{"ts bad month", doc("ts", `"2026-13-02T15:04:05Z"`), "ts", "must be an RFC 3339 time"},
		{"ts unix number", doc("ts", `1767366245`), "ts", "must be an RFC 3339 time string, got number"},
		{"ts null", doc("ts", `null`), "ts", "got null"},
		{"ts empty", doc("ts", `""`), "ts", `got ""`},
		{"ts zero time", doc("ts", `"0001-01-01T00:00:00Z"`), "ts", "must be set"},
		{"ts before year 0 in UTC", doc("ts", `"0000-01-01T00:00:00+01:00"`), "ts", "must be within years 0000-9999"},
		{"ts after year 9999 in UTC", doc("ts", `"9999-12-31T23:30:00-01:00"`), "ts", "must be within years 0000-9999"},
		{"ts long garbage is clipped", doc("ts", long(500)), "ts", `xxx..."`},
		{"value string", doc("value", `"1.5"`), "value", "must be a number or null, got string"},
		{"value bool", doc("value", `true`), "value", "must be a number or null, got boolean"},
		{"value object", doc("value", `{}`), "value", "must be a number or null, got object"},
		{"value overflow", doc("value", `1e400`), "value", "must be a finite number, got 1e400"},
		{"value negative overflow", doc("value", `-1e309`), "value", "must be a finite number"},
		{"attrs array", doc("attrs", `["a"]`), "attrs", "must be an object, got array"},
		{"attrs string", doc("attrs", `"a=b"`), "attrs", "must be an object, got string"},
		{"attr nested object", doc("attrs", `{"a":{"b":"c"}}`), "attrs.a", "must be a string, number or boolean, got object"},
		{"attr array value", doc("attrs", `{"a":[1]}`), "attrs.a", "got array"},
		{"attr null value", doc("attrs", `{"a":null}`), "attrs.a", "got null"},
		{"attr empty key", doc("attrs", `{"":"x"}`), "attrs", "keys must not be empty"},
		{"attr key too long", doc("attrs", fmt.Sprintf(`{%s:"x"}`, long(event.MaxAttrKeyBytes+1))), "attrs." + strings.Repeat("x", 64) + "...", "must be at most 128 bytes, got 129"},
		{"attr key control char", doc("attrs", `{"a\u0000":"x"}`), "attrs.a\x00", "must not contain control characters"},
		{"attr key invalid UTF-8", doc("attrs", "{\"a\xc3\":\"x\"}"), "attrs.a\xc3", "must be valid UTF-8"},
		{"attr value too long", doc("attrs", fmt.Sprintf(`{"a":%s}`, long(event.MaxAttrValueBytes+1))), "attrs.a", "must be at most 1024 bytes, got 1025"},
		{"attr number too long", doc("attrs", `{"a":1`+strings.Repeat("0", event.MaxAttrValueBytes)+`}`), "attrs.a", "must be at most 1024 bytes"},
		{"attr value invalid UTF-8", doc("attrs", "{\"a\":\"\xe2\x82\"}"), "attrs.a", "must be valid UTF-8"},
		{"attr value lone surrogate", doc("attrs", `{"a":"\udfff"}`), "attrs.a", "must be valid UTF-8"},
		{"attr duplicate key", doc("attrs", `{"a":"1","b":"2","a":"3"}`), "attrs.a", "duplicate key"},
		{"attr duplicate key by escape", doc("attrs", `{"a":"1","\u0061":"2"}`), "attrs.a", "duplicate key"},
		{"too many attrs", doc("attrs", attrs(event.MaxAttrs+1)), "attrs", "must have at most 64 entries"},
		{"unknown field", doc("user", `"x"`), "user", "unknown field"},
		{"unknown field case", `{"Event_ID":"e-1"}`, "Event_ID", "unknown field"},
		{"duplicate field", doc("value", "1") + "", "", ""}, // replaced below
		{"duplicate field by escape", `{"event_id":"e-1","\u0065vent_id":"e-2"}`, "event_id", "duplicate field"},
		{"duplicate null value", strings.TrimSuffix(doc("value", "null"), "}") + `,"value":1}`, "value", "duplicate field"},
		{"first error wins", strings.Replace(doc("type", `""`), `"event_id":"e-1"`, `"event_id":""`, 1), "event_id", "must not be empty"},
	}
	tests[len(tests)-4] = struct{ name, in, field, reason string }{
		"duplicate field", strings.TrimSuffix(doc(), "}") + `,"ts":"2026-01-02T15:04:06Z"}`, "ts", "duplicate field",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := event.Decode([]byte(tt.in))
			var fe *event.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode(%.200s) = %v, want a *FieldError", tt.in, err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Reason, tt.reason) {
				t.Errorf("Decode(%.200s) = field %q reason %q, want field %q reason containing %q", tt.in, fe.Field, fe.Reason, tt.field, tt.reason)
			}
			if want := fmt.Sprintf("field %q: ", tt.field); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q does not start with %q", err, want)
			}
			if !errors.Is(err, event.ErrInvalid) || errors.Is(err, event.ErrTooLarge) {
				t.Errorf("errors.Is(%v): ErrInvalid %v, ErrTooLarge %v; want true, false", err, errors.Is(err, event.ErrInvalid), errors.Is(err, event.ErrTooLarge))
			}
		})
	}
}

func TestDecodeTSMessage(t *testing.T) {
	_, err := event.Decode([]byte(doc("ts", `"yesterday"`)))
	const want = `field "ts": must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got "yesterday"`
	if err == nil || err.Error() != want {
		t.Errorf("Decode error = %v, want %s", err, want)
	}
}

func TestDecodeSyntaxErrors(t *testing.T) {
	valid := doc()
	tests := []struct {
		name   string
		in     string
		offset int
		msg    string // a substring of the message
	}{
		{"empty", ``, 0, "unexpected end of input"},
		{"space only", "  \n", 3, "unexpected end of input"},
		{"array", `[` + valid + `]`, 0, "expected '{' to start an event object, found '['"},
		{"null", `null`, 0, "expected '{'"},
		{"string", `"event"`, 0, "expected '{'"},
		{"truncated", valid[:34], 34, "unterminated string starting at byte 30"},
		{"truncated after name", valid[:30], 30, "unexpected end of input, expected a JSON value"},
		{"truncated after value", valid[:len(valid)-1], len(valid) - 1, "unexpected end of input, expected ',' or '}'"},
		{"trailing data", valid + ` x`, len(valid) + 1, "unexpected 'x' after the event object"},
		{"two objects", valid + valid, len(valid), "after the event object"},
		{"missing colon", `{"event_id" "e-1"}`, 12, "expected ':'"},
		{"trailing comma", strings.TrimSuffix(valid, "}") + `,}`, len(valid), "expected a string for a field name, found '}'"},
		{"single quotes", `{'event_id':'e-1'}`, 1, "found '\\''"},
		{"unquoted name", `{event_id:"e-1"}`, 1, "found 'e'"},
		{"comment", `{/* c */}`, 1, "found '/'"},
		{"leading zero", doc("value", "01"), len(doc("value", "0")) - 1, "expected ',' or '}'"},
		{"bare fraction", doc("value", ".5"), len(doc()) + len(`,"value":`) - 1, "found '.'"},
		{"plus sign", doc("value", "+1"), len(doc()) + len(`,"value":`) - 1, "found '+'"},
		{"dot without digits", doc("value", "1."), len(doc()) + len(`,"value":1.`) - 1, "a digit after the decimal point"},
		{"exponent without digits", doc("value", "1e"), len(doc()) + len(`,"value":1e`) - 1, "a digit in the exponent"},
		{"NaN", doc("value", "NaN"), len(doc()) + len(`,"value":`) - 1, "found 'N'"},
		{"Infinity", doc("value", "-Infinity"), len(doc()) + len(`,"value":-`) - 1, "expected a digit"},
		{"misspelt null", doc("value", "nul"), len(doc()) + len(`,"value":`) - 1, "invalid literal, expected null"},
		{"raw newline in string", `{"event_id":"a` + "\n" + `b"}`, 14, "control character byte 0x0a in string must be escaped"},
		{"invalid escape", `{"event_id":"a\xb"}`, 14, "invalid escape 'x'"},
		{"short unicode escape", `{"event_id":"\u12G4"}`, 13, "invalid \\u escape"},
		{"unterminated escape", `{"event_id":"\`, 14, "unterminated string"},
		{"attrs trailing comma", doc("attrs", `{"a":1,}`), len(doc()) + len(`,"attrs":{"a":1,`) - 1, "expected a string for an attrs key"},
		{"attrs missing colon", doc("attrs", `{"a" 1}`), len(doc()) + len(`,"attrs":{"a" `) - 1, "expected ':' after an attrs key"},
		{"attr bad literal", doc("attrs", `{"a":tru}`), len(doc()) + len(`,"attrs":{"a":`) - 1, "invalid literal, expected true"},
		{"attr bare word", doc("attrs", `{"a":yes}`), len(doc()) + len(`,"attrs":{"a":`) - 1, "expected a JSON value, found 'y'"},
		{"non-ASCII outside string", "{\u00e9}", 1, "found byte 0xc3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := event.Decode([]byte(tt.in))
			var se *event.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Decode(%.200s) = %v, want a *SyntaxError", tt.in, err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Decode(%.200s) = offset %d msg %q, want offset %d msg containing %q", tt.in, se.Offset, se.Msg, tt.offset, tt.msg)
			}
			if want := fmt.Sprintf("syntax error at byte %d: ", tt.offset); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q does not start with %q", err, want)
			}
			if !errors.Is(err, event.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
		})
	}
}

func TestDecodeTooLarge(t *testing.T) {
	pad := func(n int) string { return doc() + strings.Repeat(" ", n-len(doc())) }
	if _, err := event.Decode([]byte(pad(event.MaxEventBytes))); err != nil {
		t.Errorf("Decode(%d bytes) = %v, want success", event.MaxEventBytes, err)
	}
	_, err := event.Decode([]byte(pad(event.MaxEventBytes + 1)))
	if !errors.Is(err, event.ErrTooLarge) || !errors.Is(err, event.ErrInvalid) {
		t.Fatalf("Decode(%d bytes) = %v, want ErrTooLarge and ErrInvalid", event.MaxEventBytes+1, err)
	}
	if !strings.Contains(err.Error(), "65537 bytes") {
		t.Errorf("message %q does not give the size", err)
	}
}

// A document within MaxEventBytes whose canonical encoding is not (number attrs
// gain quotes) is rejected, so that every decoded event encodes within the limit.
func TestDecodeEncodedTooLarge(t *testing.T) {
	var in string
	for n := event.MaxAttrValueBytes; ; n-- {
		var kv []string
		for i := range event.MaxAttrs {
			kv = append(kv, fmt.Sprintf(`"k%02d":1%s`, i, strings.Repeat("0", n-1)))
		}
		if in = doc("attrs", "{"+strings.Join(kv, ",")+"}"); len(in) <= event.MaxEventBytes {
			break
		}
	}
	if _, err := event.Decode([]byte(in)); !errors.Is(err, event.ErrTooLarge) {
		t.Fatalf("Decode(%d bytes) = %v, want ErrTooLarge", len(in), err)
	}
}
