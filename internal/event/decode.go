package event

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// encodeSlack bounds how much longer the canonical encoding of a decoded event can
// be than its input (quotes around number and boolean attrs, a longer float form).
const encodeSlack = 3*MaxAttrs + 64

// Decode decodes and validates one JSON event; see the package doc for the rules.
// Errors match ErrInvalid and are a *FieldError, a *SyntaxError, or (over a size
// limit) an error matching ErrTooLarge.
func Decode(data []byte) (Event, error) {
	if len(data) > MaxEventBytes {
		return Event{}, tooLargeError(fmt.Sprintf("event is %d bytes, more than the %d allowed", len(data), MaxEventBytes))
	}
	d := decoder{data: data}
	d.skipSpace()
	e, err := d.event()
	if err != nil {
		return Event{}, err
	}
	d.skipSpace()
	if d.pos < len(data) {
		return Event{}, d.syntaxErr(d.pos, "unexpected %s after the event object", describe(data[d.pos]))
	}
	if err := checkEncodedSize(e, len(data)+encodeSlack); err != nil {
		return Event{}, err
	}
	return e, nil
}

// fields is a set of top-level fields seen, one bit each.
type fields uint8

const (
	hasEventID fields = 1 << iota
	hasEntityID
	hasType
	hasTS
	hasValue
	hasAttrs
)

func lookupField(name []byte) (fields, string) {
	switch string(name) {
	case fieldEventID:
		return hasEventID, fieldEventID
	case fieldEntityID:
		return hasEntityID, fieldEntityID
	case fieldType:
		return hasType, fieldType
	case fieldTS:
		return hasTS, fieldTS
	case fieldValue:
		return hasValue, fieldValue
	case fieldAttrs:
		return hasAttrs, fieldAttrs
	}
	return 0, ""
}

// event decodes the event object at d.pos.
func (d *decoder) event() (Event, error) {
	var e Event
	if d.peek() != '{' {
		return e, d.unexpected(d.pos, "'{' to start an event object")
	}
	d.pos++
	var seen fields
	d.skipSpace()
	if d.peek() == '}' {
		d.pos++
		return e, missing(seen)
	}
	for {
		d.skipSpace()
		if d.peek() != '"' {
			return e, d.unexpected(d.pos, "a string for a field name")
		}
		name, err := d.scanString()
		if err != nil {
			return e, err
		}
		f, field := lookupField(name)
		switch {
		case f == 0:
			return e, fieldErr(clip(string(name)), "unknown field (allowed: event_id, entity_id, type, ts, value, attrs)")
		case seen&f != 0:
			return e, fieldErr(field, "duplicate field")
		}
		seen |= f
		if err := d.expect(':', "':' after a field name"); err != nil {
			return e, err
		}
		d.skipSpace()
		switch f {
		case hasEventID:
			e.EventID, err = d.text(field, MaxIDBytes)
		case hasEntityID:
			e.EntityID, err = d.text(field, MaxIDBytes)
		case hasType:
			e.Type, err = d.text(field, MaxTypeBytes)
		case hasTS:
			e.TS, err = d.ts()
		case hasValue:
			e.Value, err = d.value()
		case hasAttrs:
			e.Attrs, err = d.attrs()
		}
		if err != nil {
			return e, err
		}
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return e, missing(seen)
		default:
			return e, d.unexpected(d.pos, "',' or '}' after a field")
		}
	}
}

// missing reports the first required field not seen.
func missing(seen fields) error {
	for _, r := range [...]struct {
		f    fields
		name string
	}{{hasEventID, fieldEventID}, {hasEntityID, fieldEntityID}, {hasType, fieldType}, {hasTS, fieldTS}} {
		if seen&r.f == 0 {
			return fieldErr(r.name, "is required")
		}
	}
	return nil
}

// wrongType reports a value at d.pos of another JSON type than the field takes.
func (d *decoder) wrongType(field, want string) error {
	switch c := d.peek(); {
	case c == '{' || c == '[' || c == '"' || c == 't' || c == 'f' || c == 'n' || c == '-' || isDigit(c):
		return fieldErr(field, "must be %s, got %s", want, kind(c))
	}
	return d.unexpected(d.pos, "a JSON value")
}

// text decodes an id or type string.
func (d *decoder) text(field string, maxBytes int) (string, error) {
	if d.peek() != '"' {
		return "", d.wrongType(field, "a string")
	}
	b, err := d.scanString()
	if err != nil {
		return "", err
	}
	s := string(b)
	if err := checkText(field, s, maxBytes); err != nil {
		return "", err
	}
	return s, nil
}

func (d *decoder) ts() (time.Time, error) {
	if d.peek() != '"' {
		return time.Time{}, d.wrongType(fieldTS, "an RFC 3339 time string")
	}
	b, err := d.scanString()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, fieldErr(fieldTS, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", clip(string(b)))
	}
	t = t.UTC()
	if err := checkTime(t); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

func (d *decoder) value() (*float64, error) {
	switch c := d.peek(); {
	case c == 'n':
		return nil, d.scanLiteral("null")
	case c != '-' && !isDigit(c):
		return nil, d.wrongType(fieldValue, "a number or null")
	}
	lit, err := d.scanNumber()
	if err != nil {
		return nil, err
	}
	v, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(v, 0) { // the grammar is checked: only overflow is left
		return nil, fieldErr(fieldValue, "must be a finite number, got %s", clip(string(lit)))
	}
	return &v, nil
}

func (d *decoder) attrs() (map[string]string, error) {
	switch d.peek() {
	case 'n':
		return nil, d.scanLiteral("null")
	case '{':
		d.pos++
	default:
		return nil, d.wrongType(fieldAttrs, "an object")
	}
	d.skipSpace()
	if d.peek() == '}' {
		d.pos++
		return nil, nil
	}
	var m map[string]string
	for {
		d.skipSpace()
		if d.peek() != '"' {
			return nil, d.unexpected(d.pos, "a string for an attrs key")
		}
		kb, err := d.scanString()
		if err != nil {
			return nil, err
		}
		k := string(kb)
		if err := checkAttrKey(k); err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fieldErr(attrField(k), "duplicate key")
		}
		if len(m) == MaxAttrs {
			return nil, fieldErr(fieldAttrs, "must have at most %d entries", MaxAttrs)
		}
		if err := d.expect(':', "':' after an attrs key"); err != nil {
			return nil, err
		}
		d.skipSpace()
		v, err := d.attrValue(k)
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = make(map[string]string, 4)
		}
		m[k] = v
		d.skipSpace()
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, nil
		default:
			return nil, d.unexpected(d.pos, "',' or '}' after an attrs entry")
		}
	}
}

// attrValue decodes one attrs value: a string, a number kept as its literal text,
// or a boolean.
func (d *decoder) attrValue(k string) (string, error) {
	var (
		b   []byte
		err error
	)
	switch c := d.peek(); {
	case c == '"':
		b, err = d.scanString()
	case c == '-' || isDigit(c):
		b, err = d.scanNumber()
	case c == 't':
		return "true", d.scanLiteral("true")
	case c == 'f':
		return "false", d.scanLiteral("false")
	default:
		return "", d.wrongType(attrField(k), "a string, number or boolean")
	}
	if err != nil {
		return "", err
	}
	v := string(b)
	if err := checkAttrValue(k, v); err != nil {
		return "", err
	}
	return v, nil
}
