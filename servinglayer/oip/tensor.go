package oip

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/lambda-platform/lambda/servinglayer/api"
)

// Tensor returns the values of in, an [N, F] input (field names it in errors), as FP32,
// row after row: from its binary section part if it has one, else from its JSON data,
// flat or nested one level ([[...], ...], a row per array).
func Tensor(field string, in api.OIPInput) ([]float32, error) {
	if len(in.Shape) != 2 || in.Shape[0] < 0 || in.Shape[1] < 1 {
		return nil, errorf(CodeShape, "%s.shape: %v; want [N, F], N ≥ 0 rows of F ≥ 1 features", field, in.Shape)
	}
	rows, width := in.Shape[0], in.Shape[1]
	if rows > MaxValues/width {
		return nil, errorf(CodeShape, "%s.shape: %v is more than %d values", field, in.Shape, MaxValues)
	}
	dt, err := lookup(field, string(in.Datatype))
	if err != nil {
		return nil, err
	}
	switch {
	case in.Data == nil:
		return nil, errorf(CodeData, "%s.data: missing (and no parameters.binary_data_size)", field)
	case in.Data.Binary != nil:
		return fromBinary(field, dt, string(in.Datatype), in.Data.Binary, int(rows*width))
	default:
		return fromJSON(field, dt, string(in.Datatype), in.Data.JSON, int(rows), int(width))
	}
}

// fromBinary decodes n little-endian elements of dt.
func fromBinary(field string, dt datatype, name string, b []byte, n int) ([]float32, error) {
	if len(b) != n*dt.size {
		return nil, errorf(CodeBinaryData, "%s: binary_data_size %d bytes, but the shape holds %d %s values of %d bytes (%d bytes)",
			field, len(b), n, name, dt.size, n*dt.size)
	}
	out := make([]float32, n)
	for i := range out {
		e := b[i*dt.size : (i+1)*dt.size]
		var v float64
		switch {
		case dt.bits == 0 && dt.size == 4:
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(e))
			continue
		case dt.bits == 0:
			v = math.Float64frombits(binary.LittleEndian.Uint64(e))
		case dt.unsigned:
			v = float64(uintLE(e))
		default:
			v = float64(intLE(e, dt.bits))
		}
		f, ok := toFP32(v)
		if !ok {
			return nil, errorf(CodeData, "%s.data[%d]: %g is beyond FP32's range", field, i, v)
		}
		out[i] = f
	}
	return out, nil
}

// uintLE reads an unsigned little-endian integer of len(e) bytes.
func uintLE(e []byte) uint64 {
	var u uint64
	for i := len(e) - 1; i >= 0; i-- {
		u = u<<8 | uint64(e[i])
	}
	return u
}

// intLE reads a two's complement little-endian integer of bits bits.
func intLE(e []byte, bits int) int64 {
	return int64(uintLE(e)<<(64-bits)) >> (64 - bits)
}

// fromJSON parses the JSON text of an input's data (a valid JSON value: the request was
// decoded) as rows × width values of dt: an array of numbers, or of rows arrays of
// width numbers each.
func fromJSON(field string, dt datatype, name string, b []byte, rows, width int) ([]float32, error) {
	p := parser{b: b}
	p.space()
	if !p.take('[') {
		return nil, errorf(CodeData, "%s.data: not an array", field)
	}
	// Each value takes at least two bytes ("1,"), so a body cannot make this allocate
	// more than it sent.
	out := make([]float32, 0, min(rows*width, len(b)/2+1))
	nested := false // rows as arrays, as the first element has it, or a flat list
	seen := 0       // top-level elements
	for p.space(); !p.take(']'); seen++ {
		if seen > 0 && !p.take(',') {
			return nil, errorf(CodeData, "%s.data: want , or ] at byte %d", field, p.i)
		}
		p.space()
		isRow := p.take('[')
		if seen == 0 {
			nested = isRow
		}
		if isRow != nested {
			return nil, errorf(CodeData, "%s.data[%d]: mixes numbers and arrays; send a flat list or one array per row", field, seen)
		}
		if !isRow {
			v, err := p.value(field, dt, name, len(out))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			p.space()
			continue
		}
		start := len(out)
		for p.space(); !p.take(']'); {
			if len(out) > start && !p.take(',') {
				return nil, errorf(CodeData, "%s.data[%d]: want , or ] at byte %d", field, seen, p.i)
			}
			p.space()
			v, err := p.value(field, dt, name, len(out))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			p.space()
		}
		if got := len(out) - start; got != width {
			return nil, errorf(CodeShape, "%s.data[%d]: %d values, but shape [%d, %d] has %d per row", field, seen, got, rows, width, width)
		}
		p.space()
	}
	if len(out) != rows*width {
		return nil, errorf(CodeShape, "%s.data: %d values do not fill shape [%d, %d]", field, len(out), rows, width)
	}
	return out, nil
}

// parser reads tensor data's JSON text.
type parser struct {
	b []byte
	i int
}

func (p *parser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

// take consumes c if it comes next.
func (p *parser) take(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// value parses the number that comes next as the element index k of type dt.
func (p *parser) value(field string, dt datatype, name string, k int) (float32, error) {
	start := p.i
	for p.i < len(p.b) && isNumberByte(p.b[p.i]) {
		p.i++
	}
	tok := p.b[start:p.i]
	if len(tok) == 0 {
		what := "not a number"
		if p.i < len(p.b) {
			switch p.b[p.i] {
			case '"':
				what = "a string"
			case 't', 'f':
				what = "a boolean"
			case '[':
				what = "an array nested too deep"
			case '{':
				what = "an object"
			case 'n':
				what = "null"
			}
		}
		return 0, errorf(CodeData, "%s.data[%d]: %s, where %s wants a number", field, k, what, name)
	}
	// string(tok) as an argument only does not allocate: strconv's errors copy it.
	var (
		v   float64
		err error
	)
	switch {
	case dt.bits == 0 && dt.size == 4:
		v, err = strconv.ParseFloat(string(tok), 32)
	case dt.bits == 0:
		v, err = strconv.ParseFloat(string(tok), 64)
	case dt.unsigned:
		var u uint64
		u, err = strconv.ParseUint(string(tok), 10, dt.bits)
		v = float64(u)
	default:
		var n int64
		n, err = strconv.ParseInt(string(tok), 10, dt.bits)
		v = float64(n)
	}
	if err != nil {
		return 0, errorf(CodeData, "%s.data[%d]: %s is not a %s value (or beyond its range)", field, k, tok, name)
	}
	f, ok := toFP32(v)
	if !ok {
		return 0, errorf(CodeData, "%s.data[%d]: %s is beyond FP32's range", field, k, tok)
	}
	return f, nil
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
