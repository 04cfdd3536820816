package event_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/internal/event"
)

func TestDecodeManyMixed(t *testing.T) {
	body := "[\n" + strings.Join([]string{
		doc("event_id", `"a"`),
		doc("ts", `"yesterday"`),
		`{"event_id":"b","nested":{"x":[1,{"y":[]}]}}`,
		`42`,
		`"text"`,
		`[]`,
		doc("event_id", `"c"`, "attrs", `{"k":1}`),
		doc("event_id", `"d"`, "attrs", `{"k":{}}`),
		`null`,
		doc("event_id", `"e"`),
	}, ",\n") + "\n]"
	events, rejs, err := event.DecodeMany([]byte(body))
	if err != nil {
		t.Fatalf("DecodeMany: %v", err)
	}
	var ids []string
	for _, e := range events {
		ids = append(ids, e.EventID)
	}
	if got := strings.Join(ids, ","); got != "a,c,e" {
		t.Errorf("valid events = %s, want a,c,e", got)
	}
	want := []struct {
		index int
		msg   string
	}{
		{1, `field "ts": must be an RFC 3339 time`},
		{2, `field "nested": unknown field`},
		{3, "expected '{' to start an event object, found '4'"},
		{4, "expected '{' to start an event object, found '\"'"},
		{5, "expected '{' to start an event object, found '['"},
		{7, `field "attrs.k": must be a string, number or boolean, got object`},
		{8, "expected '{' to start an event object, found 'n'"},
	}
	if len(rejs) != len(want) {
		t.Fatalf("got %d rejections %v, want %d", len(rejs), rejs, len(want))
	}
	for i, w := range want {
		r := rejs[i]
		if r.Index != w.index || !strings.Contains(r.Err.Error(), w.msg) || !errors.Is(r.Err, event.ErrInvalid) {
			t.Errorf("rejection %d = {%d %v}, want {%d ...%s...} matching ErrInvalid", i, r.Index, r.Err, w.index, w.msg)
		}
	}
}

func TestDecodeManySingleObject(t *testing.T) {
	events, rejs, err := event.DecodeMany([]byte(" " + doc() + " "))
	if err != nil || len(rejs) != 0 || len(events) != 1 || !equal(events[0], baseEvent()) {
		t.Errorf("DecodeMany(valid object) = %v, %v, %v", events, rejs, err)
	}
	events, rejs, err = event.DecodeMany([]byte(doc("type", `""`)))
	if err != nil || len(events) != 0 || len(rejs) != 1 || rejs[0].Index != 0 {
		t.Fatalf("DecodeMany(invalid object) = %v, %v, %v; want one rejection at index 0", events, rejs, err)
	}
	var fe *event.FieldError
	if !errors.As(rejs[0].Err, &fe) || fe.Field != "type" {
		t.Errorf("rejection = %v, want a field error on type", rejs[0].Err)
	}
}

func TestDecodeManyEmptyArray(t *testing.T) {
	events, rejs, err := event.DecodeMany([]byte(" [ ] "))
	if err != nil || len(events) != 0 || len(rejs) != 0 {
		t.Errorf("DecodeMany([]) = %v, %v, %v; want nothing", events, rejs, err)
	}
}

func TestDecodeManyElementTooLarge(t *testing.T) {
	big := strings.TrimSuffix(doc(), "}") + strings.Repeat(" ", event.MaxEventBytes) + "}"
	events, rejs, err := event.DecodeMany([]byte("[" + big + "," + doc() + "]"))
	if err != nil || len(events) != 1 || len(rejs) != 1 || rejs[0].Index != 0 || !errors.Is(rejs[0].Err, event.ErrTooLarge) {
		t.Errorf("DecodeMany = %v, %v, %v; want one event and a too-large rejection at 0", len(events), rejs, err)
	}
}

func TestDecodeManyErrors(t *testing.T) {
	many := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat(doc()+",", n), ",") + "]" }
	tests := []struct {
		name     string
		in       string
		tooLarge bool
		msg      string
	}{
		{"empty", "", false, "syntax error at byte 0: unexpected end of input"},
		{"number", "42", false, "syntax error at byte 0: expected '{' or '['"},
		{"string", `"x"`, false, "expected '{' or '['"},
		{"not JSON", "hello", false, "syntax error at byte 0"},
		{"unclosed array", "[" + doc(), false, fmt.Sprintf("syntax error at byte %d: unexpected end of input, expected ',' or ']'", len(doc())+1)},
		{"missing comma", "[" + doc() + doc() + "]", false, fmt.Sprintf("syntax error at byte %d: expected ',' or ']'", len(doc())+1)},
		{"syntax error in element", `[` + doc() + `,{"event_id":"x",}]`, false, fmt.Sprintf("syntax error at byte %d", len(doc())+18)},
		{"syntax error after field error", `[{"event_id":1, oops}]`, false, "syntax error at byte 16"},
		{"syntax error in skipped value", `[{"x":[1,2,}]`, false, "syntax error at byte 11: expected a JSON value"},
		{"unclosed nested", `[{"x":[[[[`, false, "unexpected end of input"},
		{"deep nesting", `[{"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 99999) + `}]`, false, "expected ',' or ']'"},
		{"trailing data", many(1) + " []", false, fmt.Sprintf("syntax error at byte %d: unexpected '[' after the batch", len(many(1))+1)},
		{"too many events", many(event.MaxBatchEvents + 1), true, "more than 1000 events"},
		{"too many bytes", "[" + strings.Repeat(" ", event.MaxBatchBytes) + "]", true, "more than the 4194304 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, rejs, err := event.DecodeMany([]byte(tt.in))
			if err == nil {
				t.Fatalf("DecodeMany = %d events, %v, nil; want an error", len(events), rejs)
			}
			if !errors.Is(err, event.ErrInvalid) || errors.Is(err, event.ErrTooLarge) != tt.tooLarge {
				t.Errorf("DecodeMany = %v: ErrInvalid %v, ErrTooLarge %v; want true, %v", err, errors.Is(err, event.ErrInvalid), errors.Is(err, event.ErrTooLarge), tt.tooLarge)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("DecodeMany = %v, want a message containing %q", err, tt.msg)
			}
		})
	}
	if events, rejs, err := event.DecodeMany([]byte(many(event.MaxBatchEvents))); err != nil || len(events) != event.MaxBatchEvents || len(rejs) != 0 {
		t.Errorf("DecodeMany(%d events) = %d, %v, %v", event.MaxBatchEvents, len(events), rejs, err)
	}
}

func TestRejectionJSON(t *testing.T) {
	_, rejs, err := event.DecodeMany([]byte(`[1,` + doc("ts", `"yesterday"`) + `]`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(rejs)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"index":0,"error":"syntax error at byte 1: expected '{' to start an event object, found '1'"},` +
		`{"index":1,"error":"field \"ts\": must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got \"yesterday\""}]`
	if string(got) != want {
		t.Errorf("json.Marshal(rejections) =\n%s\nwant\n%s", got, want)
	}
}
