package event

import (
	"slices"
	"strconv"
	"time"
)

// Encode returns the canonical JSON of e; see AppendJSON.
func Encode(e Event) []byte {
	return AppendJSON(make([]byte, 0, 256), e)
}

// AppendJSON appends the canonical JSON of e to dst: fields in schema order, ts in
// RFC 3339 UTC with as many fractional digits as needed, value in its shortest
// round-tripping form, attrs sorted by key, no insignificant space. For every e
// that passes Validate, Decode(AppendJSON(nil, e)) returns e with its ts in UTC.
// Strings are written as they are, so an event that fails Validate may encode to
// a document that Decode rejects.
func AppendJSON(dst []byte, e Event) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = appendString(dst, e.EventID)
	dst = append(dst, `,"entity_id":`...)
	dst = appendString(dst, e.EntityID)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, e.Type)
	dst = append(dst, `,"ts":"`...)
	dst = e.TS.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if e.Value != nil {
		dst = append(dst, `,"value":`...)
		dst = strconv.AppendFloat(dst, *e.Value, 'g', -1, 64)
	}
	if len(e.Attrs) > 0 {
		dst = append(dst, `,"attrs":{`...)
		var buf [16]string
		keys := buf[:0]
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, e.Attrs[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping only what JSON requires.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
