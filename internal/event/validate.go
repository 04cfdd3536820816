package event

import (
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Field names as they appear in the JSON document.
const (
	fieldEventID  = "event_id"
	fieldEntityID = "entity_id"
	fieldType     = "type"
	fieldTS       = "ts"
	fieldValue    = "value"
	fieldAttrs    = "attrs"
)

var (
	minTS = time.Date(0, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTS = time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC)
)

// Validate checks an event built in Go against the rules Decode enforces, reporting
// the first violation in document order (attrs by key order).
func Validate(e Event) error {
	if err := checkText(fieldEventID, e.EventID, MaxIDBytes); err != nil {
		return err
	}
	if err := checkText(fieldEntityID, e.EntityID, MaxIDBytes); err != nil {
		return err
	}
	if err := checkText(fieldType, e.Type, MaxTypeBytes); err != nil {
		return err
	}
	if err := checkTime(e.TS); err != nil {
		return err
	}
	if e.Value != nil {
		if v := *e.Value; math.IsNaN(v) || math.IsInf(v, 0) {
			return fieldErr(fieldValue, "must be a finite number, got %v", v)
		}
	}
	if err := validateAttrs(e.Attrs); err != nil {
		return err
	}
	return checkEncodedSize(e, estimateSize(e))
}

func validateAttrs(attrs map[string]string) error {
	if len(attrs) > MaxAttrs {
		return fieldErr(fieldAttrs, "must have at most %d entries, got %d", MaxAttrs, len(attrs))
	}
	var (
		first    *FieldError
		firstKey string
	)
	for k, v := range attrs {
		if first != nil && k >= firstKey {
			continue
		}
		if err := checkAttrKey(k); err != nil {
			first, firstKey = err, k
		} else if err := checkAttrValue(k, v); err != nil {
			first, firstKey = err, k
		}
	}
	if first != nil {
		return first
	}
	return nil
}

// CheckEntityID applies the entity_id rules to id: an id that breaks them names no
// entity, and must not reach a query (PostgreSQL refuses NUL and invalid UTF-8).
func CheckEntityID(id string) error {
	if err := checkText(fieldEntityID, id, MaxIDBytes); err != nil {
		return err
	}
	return nil
}

// checkText applies the rules for event_id, entity_id and type.
func checkText(field, s string, maxBytes int) *FieldError {
	if s == "" {
		return fieldErr(field, "must not be empty")
	}
	if r := textProblem(s, maxBytes, true); r != "" {
		return &FieldError{Field: field, Reason: r}
	}
	return nil
}

func checkAttrKey(k string) *FieldError {
	if k == "" {
		return fieldErr(fieldAttrs, "keys must not be empty")
	}
	if r := textProblem(k, MaxAttrKeyBytes, true); r != "" {
		return &FieldError{Field: attrField(k), Reason: r}
	}
	return nil
}

func checkAttrValue(k, v string) *FieldError {
	if r := textProblem(v, MaxAttrValueBytes, false); r != "" {
		return &FieldError{Field: attrField(k), Reason: r}
	}
	return nil
}

// textProblem says why s breaks the rules for a string (ident: no control
// characters), or returns "".
func textProblem(s string, maxBytes int, ident bool) string {
	switch {
	case !utf8.ValidString(s):
		return fmt.Sprintf("must be valid UTF-8, got %q", clip(s))
	case len(s) > maxBytes:
		return fmt.Sprintf("must be at most %d bytes, got %d", maxBytes, len(s))
	case ident && hasControl(s):
		return fmt.Sprintf("must not contain control characters, got %q", clip(s))
	}
	return ""
}

func attrField(k string) string { return fieldAttrs + "." + clip(k) }

// checkTime applies the ts rules to a time already in UTC or not.
func checkTime(t time.Time) *FieldError {
	switch {
	case t.IsZero():
		return fieldErr(fieldTS, "must be set, got the zero time")
	case t.Before(minTS) || t.After(maxTS):
		return fieldErr(fieldTS, "must be within years 0000-9999 in UTC, got %s", t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// hasControl reports whether s holds a C0 or C1 control character or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= 0x80 && r <= 0x9f {
			return true
		}
		i += size
	}
	return false
}

// estimateSize bounds the canonical encoding of e from above without encoding it.
func estimateSize(e Event) int {
	const fixed = 128 // field names, punctuation, ts and value
	n := fixed + 6*(len(e.EventID)+len(e.EntityID)+len(e.Type))
	for k, v := range e.Attrs {
		n += 6*(len(k)+len(v)) + 6
	}
	return n
}

// checkEncodedSize encodes e only when bound, an upper bound of its encoded size,
// exceeds MaxEventBytes, and reports an error when the encoding does too.
func checkEncodedSize(e Event, bound int) error {
	if bound <= MaxEventBytes {
		return nil
	}
	if n := len(AppendJSON(nil, e)); n > MaxEventBytes {
		return tooLargeError(fmt.Sprintf("encoded event is %d bytes, more than the %d allowed", n, MaxEventBytes))
	}
	return nil
}
