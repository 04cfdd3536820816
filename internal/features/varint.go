package features

import (
	"encoding/binary"
	"fmt"
)

// Varint helpers of the state encoding. Readers accept only the minimal encoding, so
// every state has exactly one byte form.

// appendVarint128 appends x zigzag-encoded, 7 bits a byte (at most 19 bytes).
func appendVarint128(b []byte, x int128) []byte {
	sign := uint64(x.hi >> 63)
	hi := (uint64(x.hi)<<1 | x.lo>>63) ^ sign
	lo := x.lo<<1 ^ sign
	for hi != 0 || lo >= 0x80 {
		b = append(b, byte(lo)|0x80)
		lo = lo>>7 | hi<<57
		hi >>= 7
	}
	return append(b, byte(lo))
}

// reader decodes a state encoding; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrCorruptState)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) flag() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("flag not 0 or 1")
	return false
}

func (r *reader) fixed64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) uvarint() uint64 {
	var v uint64
	for i := 0; ; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if i == 9 && c > 1 {
			r.fail("varint overflows 64 bits")
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				r.fail("non-minimal varint")
			}
			return v
		}
	}
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *reader) varint128() int128 {
	var hi, lo uint64
	for i := 0; ; i++ {
		c := r.byte()
		if r.err != nil {
			return int128{}
		}
		if i == 18 && c > 3 {
			r.fail("varint overflows 128 bits")
			return int128{}
		}
		v, s := uint64(c&0x7f), uint(7*i)
		switch {
		case s < 64:
			lo |= v << s
			if s > 57 {
				hi |= v >> (64 - s)
			}
		default:
			hi |= v << (s - 64)
		}
		if c < 0x80 {
			if c == 0 && i > 0 {
				r.fail("non-minimal varint")
			}
			break
		}
	}
	sign := -(lo & 1)
	return int128{hi: int64(hi>>1 ^ sign), lo: (lo>>1 | hi<<63) ^ sign}
}
