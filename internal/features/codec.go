package features

import (
	"encoding/binary"
	"fmt"
	"math"
)

// stateVersion is the first byte of every encoded state.
const stateVersion = 1

// Encoding, version 1 (varints are minimal LEB128, signed ones zigzag; fixed-width
// fields little-endian; times are carried as µs offsets back from newest):
//
//	version byte | spec fingerprint uint32 | has-events flag
//	if has events: newest varint, then the cells class by class in layout order:
//	  count    uvarint n
//	  sum      uvarint n, then if n > 0 the sum as a 128-bit varint
//	  min/max  flag, then float64 bits
//	  last     flag, then uvarint newest-ts, uint64 event-id hash, float64 bits
//	  distinct uvarint k, then k uint64 hashes, strictly increasing
//	  recency  flag, then uvarint newest-ts
//	  window   uvarint m, then per bucket: uvarint bucket(newest)-b for the first
//	           and b-prev-1 after, uvarint n ≥ 1, and for sum windows the 128-bit sum
//	  hll      flag 0, uvarint n, n uint32 sparse entries (register<<6 | rho at
//	           precision 25, increasing); or flag 1 and the 2^p dense registers
//
// hll cells exist only in the speed variant of a spec (Spec.Speed) and come last,
// so the encodings of specs without them are unchanged.
//
// Decode accepts exactly the encodings AppendBinary produces.

// MarshalBinary returns the state's compact binary form.
func (st *State) MarshalBinary() ([]byte, error) { return st.AppendBinary(nil) }

// AppendBinary appends the state's compact binary form to b. It never fails.
func (st *State) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, stateVersion)
	b = binary.LittleEndian.AppendUint32(b, st.spec.fingerprint)
	if !st.has {
		return append(b, 0), nil
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, st.newest)
	for _, n := range st.counts {
		b = binary.AppendUvarint(b, n)
	}
	for _, c := range st.sums {
		b = binary.AppendUvarint(b, c.n)
		if c.n > 0 {
			b = appendVarint128(b, c.s)
		}
	}
	for _, cells := range [][]valueCell{st.mins, st.maxs} {
		for _, c := range cells {
			b = appendFlag(b, c.ok)
			if c.ok {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.v))
			}
		}
	}
	for _, c := range st.lasts {
		b = appendFlag(b, c.ok)
		if c.ok {
			b = binary.AppendUvarint(b, uint64(st.newest)-uint64(c.ts))
			b = binary.LittleEndian.AppendUint64(b, c.h)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.v))
		}
	}
	for _, d := range st.distinct {
		b = binary.AppendUvarint(b, uint64(len(d)))
		for _, h := range d {
			b = binary.LittleEndian.AppendUint64(b, h)
		}
	}
	for _, c := range st.recency {
		b = appendFlag(b, c.ok)
		if c.ok {
			b = binary.AppendUvarint(b, uint64(st.newest)-uint64(c.ts))
		}
	}
	nb := floorDiv(st.newest, st.spec.bucketUS)
	for i, s := range st.wcounts {
		b = appendSeries(b, s, nb, st.cut(st.spec.cells[clsWCount][i].k), false)
	}
	for i, s := range st.wsums {
		b = appendSeries(b, s, nb, st.cut(st.spec.cells[clsWSum][i].k), true)
	}
	for i := range st.hlls {
		b = appendHLL(b, &st.hlls[i])
	}
	return b, nil
}

func appendFlag(b []byte, ok bool) []byte {
	if ok {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendSeries writes the buckets above cut (all of them in a canonical state).
func appendSeries(b []byte, s series, nb, cut int64, sums bool) []byte {
	i := 0
	for i < len(s) && s[i].b <= cut {
		i++
	}
	s = s[i:]
	b = binary.AppendUvarint(b, uint64(len(s)))
	prev := nb
	for j, bk := range s {
		if j == 0 {
			b = binary.AppendUvarint(b, uint64(nb-bk.b))
		} else {
			b = binary.AppendUvarint(b, uint64(bk.b-prev-1))
		}
		prev = bk.b
		b = binary.AppendUvarint(b, bk.n)
		if sums {
			b = appendVarint128(b, bk.s)
		}
	}
	return b
}

// Decode parses a state encoded by AppendBinary under a spec with the same
// fingerprint. It never panics, whatever the input: malformed bytes give an error
// wrapping ErrCorruptState (or ErrStateVersion, ErrSpecMismatch).
func (s *Spec) Decode(data []byte) (*State, error) {
	r := reader{b: data}
	if v := r.byte(); r.err == nil && v != stateVersion {
		return nil, fmt.Errorf("decode state: version %d: %w", v, ErrStateVersion)
	}
	if len(r.b) >= 4 {
		if fp := binary.LittleEndian.Uint32(r.b); fp != s.fingerprint {
			return nil, fmt.Errorf("decode state: fingerprint %08x, spec has %08x: %w", fp, s.fingerprint, ErrSpecMismatch)
		}
		r.b = r.b[4:]
	} else {
		r.fail("truncated")
	}
	st := s.NewState()
	if r.flag() {
		st.has, st.newest = true, r.varint()
		st.decodeCells(&r)
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode state: %w", r.err)
	}
	return st, nil
}

func (st *State) decodeCells(r *reader) {
	for i := range st.counts {
		st.counts[i] = r.uvarint()
	}
	for i := range st.sums {
		if n := r.uvarint(); n > 0 {
			st.sums[i] = sumCell{n: n, s: r.varint128()}
		}
	}
	for _, cells := range [][]valueCell{st.mins, st.maxs} {
		for i := range cells {
			if r.flag() {
				cells[i] = valueCell{ok: true, v: r.float()}
			}
		}
	}
	for i := range st.lasts {
		if r.flag() {
			st.lasts[i] = lastCell{ok: true, ts: r.before(st.newest), h: r.fixed64(), v: r.float()}
		}
	}
	for i := range st.distinct {
		k := r.uvarint()
		if k > uint64(len(r.b)/8) {
			r.fail("distinct set of %d longer than the input", k)
			return
		}
		if k == 0 {
			continue
		}
		d := make([]uint64, k)
		for j := range d {
			d[j] = r.fixed64()
			if j > 0 && d[j] <= d[j-1] {
				r.fail("distinct set not increasing")
			}
		}
		st.distinct[i] = d
	}
	for i := range st.recency {
		if r.flag() {
			st.recency[i] = tsCell{ok: true, ts: r.before(st.newest)}
		}
	}
	for i := range st.wcounts {
		st.wcounts[i] = st.decodeSeries(r, st.spec.cells[clsWCount][i].k, false)
	}
	for i := range st.wsums {
		st.wsums[i] = st.decodeSeries(r, st.spec.cells[clsWSum][i].k, true)
	}
	for i := range st.hlls {
		r.hll(&st.hlls[i])
	}
}

// float reads a float64 a fold can produce: finite and not -0.
func (r *reader) float() float64 {
	v := math.Float64frombits(r.fixed64())
	if math.IsNaN(v) || math.IsInf(v, 0) || (v == 0 && math.Signbit(v)) {
		r.fail("value %v not canonical", v)
	}
	return v
}

// before reads a time as a µs offset back from newest.
func (r *reader) before(newest int64) int64 {
	d := r.uvarint()
	if d > uint64(newest)+1<<63 { // newest - MinInt64
		r.fail("time before the int64 range")
		return 0
	}
	return int64(uint64(newest) - d)
}

func (st *State) decodeSeries(r *reader, k int64, sums bool) series {
	m := r.uvarint()
	if m > uint64(k) || m > uint64(len(r.b)) {
		r.fail("window of %d buckets", m)
		return nil
	}
	if m == 0 {
		return nil
	}
	nb := floorDiv(st.newest, st.spec.bucketUS)
	s := make(series, m)
	b := nb
	for j := range s {
		d := r.uvarint()
		if j == 0 {
			if d >= uint64(k) {
				r.fail("bucket older than the window")
				return nil
			}
			b = nb - int64(d)
		} else {
			if d >= uint64(nb-b) {
				r.fail("bucket after newest")
				return nil
			}
			b += int64(d) + 1
		}
		s[j] = bucket{b: b, n: r.uvarint()}
		if s[j].n == 0 {
			r.fail("empty bucket")
		}
		if sums {
			s[j].s = r.varint128()
		}
	}
	return s
}
