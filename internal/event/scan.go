package event

import (
	"bytes"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// decoder is a single-pass JSON scanner over one input; offsets in its errors are
// offsets into data.
type decoder struct {
	data []byte
	pos  int
	buf  []byte // scratch for strings with escapes
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the byte at the current position, or 0 at the end of input.
func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) syntaxErr(off int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// unexpected reports that the byte at off is not what the grammar wants there.
func (d *decoder) unexpected(off int, want string) *SyntaxError {
	if off >= len(d.data) {
		return d.syntaxErr(off, "unexpected end of input, expected %s", want)
	}
	return d.syntaxErr(off, "expected %s, found %s", want, describe(d.data[off]))
}

// describe names a byte for an error message.
func describe(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// kind names the JSON type of the value starting with c.
func kind(c byte) string {
	switch {
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	default:
		return "number"
	}
}

// expect consumes c after optional space.
func (d *decoder) expect(c byte, want string) error {
	d.skipSpace()
	if d.peek() != c {
		return d.unexpected(d.pos, want)
	}
	d.pos++
	return nil
}

// scanString consumes the string at d.pos (which holds '"') and returns its
// content. Content with escapes is unescaped into d.buf and is valid only until
// the next call. The content is not checked for UTF-8 validity; a lone surrogate
// escape is kept as its (invalid) 3-byte encoding so that the check rejects it.
func (d *decoder) scanString() ([]byte, error) {
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			return d.data[start:i], nil
		case c == '\\':
			return d.unescape(start, i)
		case c < 0x20:
			return nil, d.syntaxErr(i, "control character %s in string must be escaped", describe(c))
		}
	}
	return nil, d.syntaxErr(len(d.data), "unterminated string starting at byte %d", d.pos)
}

// unescape continues scanString from the first escape at i.
func (d *decoder) unescape(start, i int) ([]byte, error) {
	b := append(d.buf[:0], d.data[start:i]...)
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.buf = b
			return b, nil
		case c < 0x20:
			return nil, d.syntaxErr(i, "control character %s in string must be escaped", describe(c))
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			break
		}
		switch esc := d.data[i+1]; esc {
		case '"', '\\', '/':
			b = append(b, esc)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(d.data, i+2)
			if !ok {
				return nil, d.syntaxErr(i, `invalid \u escape, expected 4 hex digits`)
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := lowSurrogate(d.data, i); ok && r < 0xdc00 {
					b = utf8.AppendRune(b, utf16.DecodeRune(r, r2))
					i += 6
					continue
				}
				b = append(b, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
				continue
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return nil, d.syntaxErr(i, "invalid escape %s in string", describe(esc))
		}
		i += 2
	}
	d.buf = b
	return nil, d.syntaxErr(len(d.data), "unterminated string starting at byte %d", start-1)
}

// lowSurrogate reads a \uDC00-\uDFFF escape at i.
func lowSurrogate(data []byte, i int) (rune, bool) {
	if i+1 >= len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	r, ok := hex4(data, i+2)
	return r, ok && r >= 0xdc00 && r <= 0xdfff
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber consumes a JSON number at d.pos and returns its literal text.
func (d *decoder) scanNumber() ([]byte, error) {
	data, start, i := d.data, d.pos, d.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && isDigit(data[i]):
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		return nil, d.unexpected(i, "a digit")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return nil, d.unexpected(i, "a digit after the decimal point")
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return nil, d.unexpected(i, "a digit in the exponent")
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	d.pos = i
	return data[start:i], nil
}

// scanLiteral consumes true, false or null at d.pos.
func (d *decoder) scanLiteral(lit string) error {
	if !bytes.HasPrefix(d.data[d.pos:], []byte(lit)) {
		return d.syntaxErr(d.pos, "invalid literal, expected %s", lit)
	}
	d.pos += len(lit)
	return nil
}

// scanScalar consumes a string, number or literal at d.pos.
func (d *decoder) scanScalar() error {
	var err error
	switch c := d.peek(); {
	case c == '"':
		_, err = d.scanString()
	case c == 't':
		err = d.scanLiteral("true")
	case c == 'f':
		err = d.scanLiteral("false")
	case c == 'n':
		err = d.scanLiteral("null")
	case c == '-' || isDigit(c):
		_, err = d.scanNumber()
	default:
		err = d.unexpected(d.pos, "a JSON value")
	}
	return err
}

// skipValue consumes any JSON value at d.pos (after optional space), checking its
// syntax. It keeps its own stack, so deep nesting cannot exhaust the goroutine's.
func (d *decoder) skipValue() error {
	var open []byte // '{' or '[' per enclosing container
	for {
		// A value is expected here.
		d.skipSpace()
		switch d.peek() {
		case '{', '[':
			c := d.data[d.pos]
			d.pos++
			d.skipSpace()
			if closer := c + 2; d.peek() == closer { // '{'+2 == '}', '['+2 == ']'
				d.pos++
				break
			}
			open = append(open, c)
			if c == '{' {
				if err := d.memberName(); err != nil {
					return err
				}
			}
			continue
		default:
			if err := d.scanScalar(); err != nil {
				return err
			}
		}
		// A value ended: close containers until one continues.
		for {
			if len(open) == 0 {
				return nil
			}
			top := open[len(open)-1]
			d.skipSpace()
			c := d.peek()
			if c == top+2 {
				d.pos++
				open = open[:len(open)-1]
				continue
			}
			if c != ',' {
				return d.unexpected(d.pos, fmt.Sprintf("',' or %q", rune(top+2)))
			}
			d.pos++
			if top == '{' {
				if err := d.memberName(); err != nil {
					return err
				}
			}
			break
		}
	}
}

// memberName consumes an object member's name and the colon after it.
func (d *decoder) memberName() error {
	d.skipSpace()
	if d.peek() != '"' {
		return d.unexpected(d.pos, "a string for an object member name")
	}
	if _, err := d.scanString(); err != nil {
		return err
	}
	return d.expect(':', "':' after an object member name")
}
