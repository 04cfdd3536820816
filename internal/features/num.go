package features

import (
	"math"
	"math/bits"
)

// Sums are exact fixed-point: each value is rounded once, when it is folded, to the
// nearest micro-unit (1e-6; values beyond ±9.2e12 saturate), and those integers are
// accumulated in a 128-bit two's-complement integer, which cannot overflow before
// 2^64 values. Integer addition is associative and commutative, so a sum (and a mean,
// sum/count) is bit-identical however the events are split, ordered and merged. The
// only error against the real-valued sum is the per-value rounding, at most 5e-7 per
// value, plus the final conversion to float.
const microsPerUnit = 1e6

// int128 is a two's-complement 128-bit integer.
type int128 struct {
	hi int64
	lo uint64
}

// quantise maps a finite value to micro-units, rounding half away from zero and
// saturating at the int64 range.
func quantise(v float64) int64 {
	m := math.Round(v * microsPerUnit)
	switch {
	case m >= math.MaxInt64:
		return math.MaxInt64
	case m <= math.MinInt64:
		return math.MinInt64
	}
	return int64(m)
}

// addInt64 adds v (sign-extended) to x.
func (x int128) addInt64(v int64) int128 {
	lo, carry := bits.Add64(x.lo, uint64(v), 0)
	return int128{hi: x.hi + v>>63 + int64(carry), lo: lo}
}

// add returns x + y (wrapping, which sums of folded values never reach).
func (x int128) add(y int128) int128 {
	lo, carry := bits.Add64(x.lo, y.lo, 0)
	return int128{hi: x.hi + y.hi + int64(carry), lo: lo}
}

// float returns x as a float64 (rounded).
func (x int128) float() float64 {
	if x.hi == int64(x.lo)>>63 {
		return float64(int64(x.lo))
	}
	return float64(x.hi)*(1<<64) + float64(x.lo)
}

// units converts micro-units to units.
func (x int128) units() float64 { return x.float() / microsPerUnit }

// floorDiv returns ⌊a/b⌋ for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// cleanValue reports whether v is folded at all (finite) and maps -0 to +0, so that
// min, max and last are bit-identical in any fold order.
func cleanValue(v float64) (float64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	if v == 0 {
		return 0, true
	}
	return v, true
}
