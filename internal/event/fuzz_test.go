package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lambda-platform/lambda/internal/event"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		doc(),
		doc("value", "19.99", "attrs", `{"device":"ios","qty":2,"gift":true,"promo":false,"p":-1.5e-3}`),
		doc("value", "null", "attrs", "null"),
		doc("value", "-0", "attrs", "{}"),
		doc("value", "1e400"),
		doc("value", "1e-400"),
		doc("value", "01"),
		doc("ts", `"2026-01-02T16:04:05.123456789+01:00"`),
		doc("ts", `"0000-01-01T00:00:00+01:00"`),
		doc("ts", `"9999-12-31T23:59:59.999999999-00:01"`),
		doc("ts", `"0001-01-01T00:00:00Z"`),
		doc("ts", `"2026-01-02t15:04:05z"`),
		doc("ts", `"yesterday"`),
		doc("event_id", `"a\"b\\c\/d\u00e9\ud83d\ude00"`),
		doc("event_id", `"\ud800"`),
		doc("event_id", `"\udbff\udfff\u0000"`),
		doc("event_id", "\"\xff\""),
		doc("entity_id", `"a\u0085"`),
		doc("attrs", `{"a":{"b":[1,2,{"c":null}]}}`),
		doc("attrs", `{"a":"1","\u0061":"2"}`),
		doc("attrs", `{"":"x"}`),
		doc("attrs", `{"k":"\t\n\r\b\f\u001f"}`),
		doc("user", `"x"`),
		`{"event_id":"e","event_id":"e"}`,
		`{"\u0074s":"2026-01-02T15:04:05Z","type":"t","entity_id":"u","event_id":"e"}`,
		" \t\r\n" + doc() + " \n",
		doc() + doc(),
		doc() + "x",
		`[` + doc() + `]`,
		`{}`, ``, `{`, `"`, `{"`, `{"a`, `{"a"`, `{"a":`, `nul`, `-`, `1.`, `[[[[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := event.Decode(data)
		checkAgainstDecodeMany(t, data, e, err)
		if err != nil {
			var (
				fe *event.FieldError
				se *event.SyntaxError
			)
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("Decode error %v does not match ErrInvalid", err)
			}
			if !errors.As(err, &fe) && !errors.As(err, &se) && !errors.Is(err, event.ErrTooLarge) {
				t.Fatalf("Decode error %T %v is not a FieldError, SyntaxError or ErrTooLarge", err, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Decode accepted invalid JSON %q", data)
		}
		var generic map[string]any
		if err := json.Unmarshal(data, &generic); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", data, err)
		}
		if generic["event_id"] != e.EventID || generic["entity_id"] != e.EntityID || generic["type"] != e.Type {
			t.Fatalf("encoding/json reads %v, Decode %+v", generic, e)
		}
		if err := event.Validate(e); err != nil {
			t.Fatalf("Validate(Decode(%q)) = %v", data, err)
		}
		enc := event.Encode(e)
		e2, err := event.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = %v; encoded %s", data, err, enc)
		}
		if !equal(e, e2) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", data, e2, e)
		}
		if enc2 := event.Encode(e2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not canonical:\n%s\n%s", enc, enc2)
		}
	})
}

// checkAgainstDecodeMany checks that DecodeMany treats a body starting with an
// object as Decode does, and a valid event also inside an array.
func checkAgainstDecodeMany(t *testing.T, data []byte, e event.Event, decodeErr error) {
	t.Helper()
	if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
		return
	}
	bodies := [][]byte{data}
	if decodeErr == nil {
		bodies = append(bodies, append(append([]byte("["), data...), ']'))
	}
	var se *event.SyntaxError
	for _, body := range bodies {
		events, rejs, err := event.DecodeMany(body)
		switch {
		case decodeErr == nil:
			if err != nil || len(rejs) != 0 || len(events) != 1 || !equal(events[0], e) {
				t.Fatalf("DecodeMany(%q) = %v, %v, %v; Decode gave %+v", body, events, rejs, err, e)
			}
		case errors.As(decodeErr, &se):
			if err == nil {
				t.Fatalf("DecodeMany(%q) = %v, %v, nil; Decode gave %v", body, events, rejs, decodeErr)
			}
		default:
			// A field error, unless DecodeMany finds a syntax error further on.
			if err == nil && (len(rejs) != 1 || rejs[0].Err.Error() != decodeErr.Error() || len(events) != 0) {
				t.Fatalf("DecodeMany(%q) = %v, %v, nil; Decode gave %v", body, events, rejs, decodeErr)
			}
		}
	}
}

func FuzzDecodeMany(f *testing.F) {
	for _, s := range []string{
		`[]`,
		`[` + doc() + `]`,
		`[` + doc() + `,` + doc("event_id", `"e-2"`, "value", "1.5", "attrs", `{"a":1,"b":"x"}`) + `]`,
		`[` + doc("ts", `"yesterday"`) + `, 42, "x", null, [], {"x":[1,{"y":[]}]}, ` + doc() + `]`,
		`[{"event_id":1, oops}]`,
		`[{"x":[1,2,}]`,
		`[[[[[[]]]]]]`,
		` [ ` + doc() + ` ] `,
		`[` + doc() + `] []`,
		doc(),
		`42`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		events, rejs, err := event.DecodeMany(data)
		if err != nil {
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("DecodeMany error %v does not match ErrInvalid", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("DecodeMany accepted invalid JSON %q", data)
		}
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil {
			elems = []json.RawMessage{data} // one object
		}
		if len(events)+len(rejs) != len(elems) {
			t.Fatalf("DecodeMany(%q) = %d events and %d rejections, for %d elements", data, len(events), len(rejs), len(elems))
		}
		var fe *event.FieldError
		for i, raw := range elems {
			e, derr := event.Decode(raw)
			if derr == nil {
				if len(events) == 0 || !equal(events[0], e) {
					t.Fatalf("element %d %q decodes alone but not in DecodeMany(%q)", i, raw, data)
				}
				events = events[1:]
				continue
			}
			if len(rejs) == 0 || rejs[0].Index != i || !errors.Is(rejs[0].Err, event.ErrInvalid) {
				t.Fatalf("element %d %q: Decode gave %v, DecodeMany no matching rejection: %v", i, raw, derr, rejs)
			}
			if errors.As(derr, &fe) && rejs[0].Err.Error() != derr.Error() {
				t.Fatalf("element %d %q: Decode gave %v, DecodeMany %v", i, raw, derr, rejs[0].Err)
			}
			rejs = rejs[1:]
		}
	})
}
