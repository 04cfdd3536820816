package features

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
)

// HyperLogLog precisions a spec may ask for; defaultHLLPrecision when it names none.
const (
	minHLLPrecision     = 4
	maxHLLPrecision     = 16
	defaultHLLPrecision = 12
	// sparseP is the precision of the sparse representation (HLL++): an entry is a
	// register index at 2^25 registers and its rho, packed in 31 bits.
	sparseP       = 25
	sparseRhoBits = 6
	sparseMaxRho  = 64 - sparseP + 1
)

// hll is a HyperLogLog sketch of the 64-bit hashes of a distinct feature's values
// with 2^p registers. It starts sparse — the sorted entries idx<<6 | rho of the
// non-empty registers at precision 25, 4 bytes each — and turns dense (2^p one-byte
// registers) once it holds more than 2^p/4 entries, when sparse would be larger.
// Which representation a sketch has depends only on the set of hashes folded, so
// fold and merge stay associative and commutative bit for bit.
type hll struct {
	p      uint8
	sparse []uint32 // sorted, one entry per sparse register; unused when dense
	dense  []uint8  // 2^p registers; nil while sparse
}

// sparseEntry returns h's sparse register and rho, packed.
func sparseEntry(h uint64) uint32 {
	idx := uint32(h >> (64 - sparseP))
	rho := uint32(bits.LeadingZeros64(h<<sparseP|1<<(sparseP-1))) + 1
	return idx<<sparseRhoBits | rho
}

// maxSparse is the number of entries above which the sketch is dense.
func (x *hll) maxSparse() int { return 1 << x.p / 4 }

// add folds the hash h.
func (x *hll) add(h uint64) {
	if x.dense != nil {
		idx := h >> (64 - x.p)
		rho := uint8(bits.LeadingZeros64(h<<x.p|1<<(x.p-1))) + 1
		x.dense[idx] = max(x.dense[idx], rho)
		return
	}
	e := sparseEntry(h)
	// The first entry of a register at or after e's: entries of one register differ
	// only in their low 6 bits, which e's register with rho 0 orders before.
	key := e &^ (1<<sparseRhoBits - 1)
	lo, hi := 0, len(x.sparse)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.sparse[m] < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(x.sparse) && x.sparse[lo]>>sparseRhoBits == e>>sparseRhoBits {
		x.sparse[lo] = max(x.sparse[lo], e)
		return
	}
	x.sparse = slices.Insert(x.sparse, lo, e)
	if len(x.sparse) > x.maxSparse() {
		x.toDense()
	}
}

// toDense turns a sparse sketch dense: a precision-25 entry holds the top 25 bits of
// its hash, so the p-bit register and its rho follow exactly.
func (x *hll) toDense() {
	x.dense = make([]uint8, 1<<x.p)
	for _, e := range x.sparse {
		x.addSparseToDense(e)
	}
	x.sparse = nil
}

func (x *hll) addSparseToDense(e uint32) {
	idx25 := e >> sparseRhoBits
	rest := uint(sparseP - x.p) // bits of idx25 below the p-bit register index
	idx := idx25 >> rest
	low := idx25 & (1<<rest - 1)
	var rho uint8
	if low != 0 {
		rho = uint8(bits.LeadingZeros32(low)-(32-int(rest))) + 1
	} else {
		rho = uint8(rest) + uint8(e&(1<<sparseRhoBits-1))
	}
	x.dense[idx] = max(x.dense[idx], rho)
}

// merge folds o, a sketch of the same precision, into x.
func (x *hll) merge(o *hll) {
	switch {
	case o.dense != nil:
		if x.dense == nil {
			x.toDense()
		}
		for i, r := range o.dense {
			x.dense[i] = max(x.dense[i], r)
		}
	case x.dense != nil:
		for _, e := range o.sparse {
			x.addSparseToDense(e)
		}
	case len(o.sparse) > 0:
		x.sparse = mergeSparse(x.sparse, o.sparse)
		if len(x.sparse) > x.maxSparse() {
			x.toDense()
		}
	}
}

// mergeSparse returns the union of two sparse lists, the greater rho per register.
func mergeSparse(a, b []uint32) []uint32 {
	out := make([]uint32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ia, ib := a[i]>>sparseRhoBits, b[j]>>sparseRhoBits
		switch {
		case ia < ib:
			out = append(out, a[i])
			i++
		case ia > ib:
			out = append(out, b[j])
			j++
		default:
			out = append(out, max(a[i], b[j]))
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

func (x *hll) clone() hll {
	return hll{p: x.p, sparse: slices.Clone(x.sparse), dense: slices.Clone(x.dense)}
}

func (x *hll) equal(o *hll) bool {
	return x.p == o.p && (x.dense == nil) == (o.dense == nil) && slices.Equal(x.sparse, o.sparse) && slices.Equal(x.dense, o.dense)
}

// estimate returns the sketch's distinct count. Sparse, it is linear counting over
// the 2^25 precision-25 registers, exact but for hash collisions among them; dense,
// it is Ertl's improved raw estimator ("New cardinality estimation algorithms for
// HyperLogLog sketches", 2017, algorithm 6), which needs no empirical bias
// correction and no switch to linear counting at small cardinalities.
func (x *hll) estimate() float64 {
	if x.dense == nil {
		const m = 1 << sparseP
		return -m * math.Log1p(-float64(len(x.sparse))/m)
	}
	m := float64(len(x.dense))
	q := 64 - int(x.p)
	var c [66]float64 // c[k]: registers holding k, k = 0..q+1
	for _, r := range x.dense {
		c[r]++
	}
	z := m * ertlTau(1-c[q+1]/m)
	for k := q; k >= 1; k-- {
		z = 0.5 * (z + c[k])
	}
	z += m * ertlSigma(c[0]/m)
	return m * m / (2 * math.Ln2 * z)
}

func ertlSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func ertlTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if z == prev {
			return z / 3
		}
	}
}

// appendHLL encodes x: flag 0, uvarint n and n sparse entries (uint32, increasing
// by register), or flag 1 and the 2^p registers.
func appendHLL(b []byte, x *hll) []byte {
	if x.dense != nil {
		return append(append(b, 1), x.dense...)
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(x.sparse)))
	for _, e := range x.sparse {
		b = binary.LittleEndian.AppendUint32(b, e)
	}
	return b
}

// hll reads what appendHLL wrote into x, whose precision is set.
func (r *reader) hll(x *hll) {
	if !r.flag() {
		n := r.uvarint()
		if n > uint64(x.maxSparse()) || n > uint64(len(r.b)/4) {
			r.fail("sparse sketch of %d entries", n)
			return
		}
		if n == 0 {
			return
		}
		x.sparse = make([]uint32, n)
		for i := range x.sparse {
			e := binary.LittleEndian.Uint32(r.b)
			r.b = r.b[4:]
			rho := e & (1<<sparseRhoBits - 1)
			if e>>(sparseP+sparseRhoBits) != 0 || rho == 0 || rho > sparseMaxRho || i > 0 && e>>sparseRhoBits <= x.sparse[i-1]>>sparseRhoBits {
				r.fail("sparse sketch entry %08x not canonical", e)
				return
			}
			x.sparse[i] = e
		}
		return
	}
	if r.err != nil {
		return
	}
	m := 1 << x.p
	if len(r.b) < m {
		r.fail("dense sketch truncated")
		return
	}
	x.dense = slices.Clone(r.b[:m])
	r.b = r.b[m:]
	for _, v := range x.dense {
		if v > 64-x.p+1 {
			r.fail("register %d out of range", v)
			return
		}
	}
}

// newHLL returns the sketch of precision p of the hashes in the sorted set hs.
func newHLL(p uint8, hs []uint64) hll {
	x := hll{p: p}
	for _, h := range hs {
		x.sparse = append(x.sparse, sparseEntry(h))
	}
	// hs is sorted, so the entries are sorted by register: keep each register's greatest.
	out := x.sparse[:0]
	for _, e := range x.sparse {
		if n := len(out); n > 0 && out[n-1]>>sparseRhoBits == e>>sparseRhoBits {
			out[n-1] = max(out[n-1], e)
			continue
		}
		out = append(out, e)
	}
	x.sparse = out
	if len(x.sparse) > x.maxSparse() {
		x.toDense()
	}
	return x
}
