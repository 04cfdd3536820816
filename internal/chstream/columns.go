package chstream

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/ClickHouse/ch-go/proto"
)

// The column types below keep the rows of every block of a Select, one block after
// another, so that a caller can collect a whole answer without copying it: ch-go
// empties a result column before each block (Reset), and these ignore that. Truncate
// empties them, keeping their memory for the next Select.
//
// Strings and StringArrays parse the strings straight out of the connection's read
// buffer, several at a time, rather than one length and one read call per string
// as ch-go's ColStr does: a whole read of the events table went from 2.7M to 4.7-4.9M
// rows/s with them (BenchmarkRun's read_events/s).

// ErrStringLength is returned for a string length that cannot be right.
var ErrStringLength = errors.New("invalid string length")

// bufferUser is a column that reads from the connection's buffer when it is given it.
type bufferUser interface {
	useBuffer(br *bufio.Reader)
}

// Strings is a String column: row i is Buf[Offsets[i]:Offsets[i+1]]. Offsets starts
// with 0 once the column holds a row: Arrow's layout of a utf8 or binary array, so an
// Arrow array can point at Offsets and Buf. A column holds at most 2 GiB of strings.
type Strings struct {
	Buf     []byte
	Offsets []int32
	br      *bufio.Reader // the connection's: strings are parsed from it; nil: one at a time
}

func (c *Strings) useBuffer(br *bufio.Reader) { c.br = br }

// Type is String.
func (c *Strings) Type() proto.ColumnType { return proto.ColumnTypeString }

// Rows is the number of strings held.
func (c *Strings) Rows() int { return max(len(c.Offsets)-1, 0) }

// Reset does nothing: the column keeps the rows of every block (see Truncate).
func (c *Strings) Reset() {}

// Truncate empties the column, keeping its memory.
func (c *Strings) Truncate() { c.Buf, c.Offsets = c.Buf[:0], c.Offsets[:0] }

// Row returns string i, pointing into the column's buffer.
func (c *Strings) Row(i int) []byte { return c.Buf[c.Offsets[i]:c.Offsets[i+1]] }

// ErrColumnFull: a Strings column would pass 2 GiB.
var ErrColumnFull = errors.New("string column over 2 GiB")

// DecodeColumn appends rows strings.
func (c *Strings) DecodeColumn(r *proto.Reader, rows int) error {
	if len(c.Offsets) == 0 {
		c.Offsets = append(c.Offsets, 0)
	}
	c.Offsets = grow(c.Offsets, rows)
	for rows > 0 {
		n, err := c.buffered(rows)
		if err != nil {
			return err
		}
		rows -= n
		if n == 0 { // the next string is not all in the buffer: read it the slow way
			if err := c.readOne(r); err != nil {
				return err
			}
			rows--
		}
	}
	return nil
}

// buffered appends up to rows strings that lie whole in the connection's buffer and
// returns how many it appended.
func (c *Strings) buffered(rows int) (int, error) {
	if c.br == nil || c.br.Buffered() == 0 || len(c.Buf)+c.br.Buffered() > math.MaxInt32 {
		return 0, nil // readOne checks the size
	}
	buf, _ := c.br.Peek(c.br.Buffered())
	c.Buf = grow(c.Buf, len(buf))
	k, n := 0, 0
	for n < rows {
		size, w := binary.Uvarint(buf[k:])
		if w < 0 || w > 0 && size > maxStringBytes {
			return 0, fmt.Errorf("%w at row %d", ErrStringLength, c.Rows())
		}
		if w == 0 || uint64(len(buf)-k-w) < size { // the length or the string goes on past the buffer
			break
		}
		c.Buf = append(c.Buf, buf[k+w:k+w+int(size)]...)
		c.Offsets = append(c.Offsets, int32(len(c.Buf)))
		k += w + int(size)
		n++
	}
	_, _ = c.br.Discard(k) // never more than buffered
	return n, nil
}

// maxStringBytes bounds one string's length (ClickHouse's own limit is 1 GiB).
const maxStringBytes = 1 << 30

// readOne appends one string read through r.
func (c *Strings) readOne(r *proto.Reader) error {
	size, err := r.StrLen()
	if err != nil {
		return fmt.Errorf("row %d: %w", c.Rows(), err)
	}
	if size > maxStringBytes {
		return fmt.Errorf("%w %d at row %d", ErrStringLength, size, c.Rows())
	}
	start := len(c.Buf)
	if start+size > math.MaxInt32 {
		return fmt.Errorf("%w at row %d", ErrColumnFull, c.Rows())
	}
	c.Buf = grow(c.Buf, size)[:start+size]
	if err := r.ReadFull(c.Buf[start:]); err != nil {
		return fmt.Errorf("row %d: %w", c.Rows(), err)
	}
	c.Offsets = append(c.Offsets, int32(len(c.Buf)))
	return nil
}

// StringArrays is an Array(String) column: row i is the strings Data holds from
// Offsets[i] up to Offsets[i+1]. Offsets starts with 0 once the column holds a row,
// Arrow's layout of a list array.
type StringArrays struct {
	Offsets []int32
	Data    Strings
	ends    []uint64 // a block's offsets as sent, reused
}

func (c *StringArrays) useBuffer(br *bufio.Reader) { c.Data.useBuffer(br) }

// Type is Array(String).
func (c *StringArrays) Type() proto.ColumnType { return proto.ColumnTypeString.Array() }

// Rows is the number of arrays held.
func (c *StringArrays) Rows() int { return max(len(c.Offsets)-1, 0) }

// Reset does nothing: the column keeps the rows of every block (see Truncate).
func (c *StringArrays) Reset() {}

// Truncate empties the column, keeping its memory.
func (c *StringArrays) Truncate() { c.Offsets = c.Offsets[:0]; c.Data.Truncate() }

// DecodeColumn appends rows arrays: their end offsets (counted from the block's first
// element), then their strings.
func (c *StringArrays) DecodeColumn(r *proto.Reader, rows int) error {
	c.ends = c.ends[:0]
	if err := readFixed(r, &c.ends, rows); err != nil {
		return fmt.Errorf("array offsets: %w", err)
	}
	if len(c.Offsets) == 0 {
		c.Offsets = append(c.Offsets, 0)
	}
	c.Offsets = grow(c.Offsets, rows)
	base, prev := uint64(c.Data.Rows()), uint64(0)
	for i, end := range c.ends {
		if end < prev || base+end > math.MaxInt32 {
			return fmt.Errorf("array offsets: %d after %d at row %d", end, prev, c.Rows()+i)
		}
		prev = end
		c.Offsets = append(c.Offsets, int32(base+end))
	}
	return c.Data.DecodeColumn(r, int(prev))
}

// Fixed is a column of a fixed-width number type: Int32, Int64, UInt8 or Float64.
type Fixed[T int32 | int64 | uint8 | float64] struct {
	Values []T
}

// Type is the ClickHouse type of T.
func (c *Fixed[T]) Type() proto.ColumnType {
	switch any(T(0)).(type) {
	case int32:
		return proto.ColumnTypeInt32
	case int64:
		return proto.ColumnTypeInt64
	case uint8:
		return proto.ColumnTypeUInt8
	default:
		return proto.ColumnTypeFloat64
	}
}

// Rows is the number of values held.
func (c *Fixed[T]) Rows() int { return len(c.Values) }

// Reset does nothing: the column keeps the rows of every block (see Truncate).
func (c *Fixed[T]) Reset() {}

// Truncate empties the column, keeping its memory.
func (c *Fixed[T]) Truncate() { c.Values = c.Values[:0] }

// DecodeColumn appends rows values.
func (c *Fixed[T]) DecodeColumn(r *proto.Reader, rows int) error {
	return readFixed(r, &c.Values, rows)
}

// readFixed appends rows little-endian values of T read through r (the native
// protocol's layout is the memory layout of every platform Go and ClickHouse share).
func readFixed[T int32 | int64 | uint8 | uint64 | float64](r *proto.Reader, values *[]T, rows int) error {
	from := len(*values)
	*values = grow(*values, rows)[:from+rows]
	tail := (*values)[from:]
	if len(tail) == 0 {
		return nil
	}
	var zero T
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&tail[0])), len(tail)*int(unsafe.Sizeof(zero)))
	return r.ReadFull(raw)
}

// grow returns s with room for n more elements, at least doubling its capacity when
// it must move: the columns hold whole answers, and on the machines this runs on a
// fresh page of memory costs as much as decoding a few hundred strings, so the
// 1.25x steps of append on large slices cost more than the decode.
func grow[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	return slices.Grow(s, max(n, cap(s)))
}
