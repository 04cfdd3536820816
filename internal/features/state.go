package features

import (
	"math"
	"slices"
	"time"
)

// State is one entity's aggregate state under a Spec: a monoid. NewState is the
// identity and Merge the associative, commutative operation, so
// fold(A) ⊕ fold(B) == fold(A ∪ B) for any split of an input into A and B (given the
// duplicate rules in the package doc). States handed out by Folder, Stream, Decode
// and Merge are canonical (windows pruned), so equal inputs give equal bytes.
//
// A State is not safe for concurrent mutation.
type State struct {
	spec   *Spec
	has    bool  // some event was folded
	newest int64 // newest event time folded, unix µs (valid when has)

	counts   []uint64
	sums     []sumCell
	mins     []valueCell
	maxs     []valueCell
	lasts    []lastCell
	distinct [][]uint64 // sorted hashes of the attr's values
	recency  []tsCell
	wcounts  []series
	wsums    []series
	hlls     []hll // approximate distincts (speed variants of specs only)
}

// sumCell accumulates the values of a sum or mean feature.
type sumCell struct {
	n uint64 // values folded
	s int128 // their sum in micro-units
}

// valueCell holds a min or max.
type valueCell struct {
	ok bool
	v  float64
}

// lastCell holds the value of the greatest event by (ts, event-id hash, value).
type lastCell struct {
	ok bool
	ts int64
	h  uint64
	v  float64
}

// tsCell holds the newest event time of a recency feature.
type tsCell struct {
	ok bool
	ts int64
}

// NewState returns the identity state.
func (s *Spec) NewState() *State {
	st := &State{spec: s}
	st.counts = make([]uint64, len(s.cells[clsCount]))
	st.sums = make([]sumCell, len(s.cells[clsSum]))
	st.mins = make([]valueCell, len(s.cells[clsMin]))
	st.maxs = make([]valueCell, len(s.cells[clsMax]))
	st.lasts = make([]lastCell, len(s.cells[clsLast]))
	st.distinct = make([][]uint64, len(s.cells[clsDistinct]))
	st.recency = make([]tsCell, len(s.cells[clsRecency]))
	st.wcounts = make([]series, len(s.cells[clsWCount]))
	st.wsums = make([]series, len(s.cells[clsWSum]))
	st.hlls = make([]hll, len(s.cells[clsHLL]))
	for i, def := range s.cells[clsHLL] {
		st.hlls[i].p = def.p
	}
	return st
}

// Newest returns the newest event time folded into the state (µs precision), and
// false for the identity state.
func (st *State) Newest() (time.Time, bool) {
	if !st.has {
		return time.Time{}, false
	}
	return time.UnixMicro(st.newest).UTC(), true
}

// IsEmpty reports whether the state is the identity.
func (st *State) IsEmpty() bool { return !st.has }

// Clone returns a deep copy.
func (st *State) Clone() *State {
	c := *st
	c.counts = slices.Clone(st.counts)
	c.sums = slices.Clone(st.sums)
	c.mins = slices.Clone(st.mins)
	c.maxs = slices.Clone(st.maxs)
	c.lasts = slices.Clone(st.lasts)
	c.recency = slices.Clone(st.recency)
	c.distinct = make([][]uint64, len(st.distinct))
	for i, d := range st.distinct {
		c.distinct[i] = slices.Clone(d)
	}
	c.wcounts = cloneSeries(st.wcounts)
	c.wsums = cloneSeries(st.wsums)
	c.hlls = make([]hll, len(st.hlls))
	for i := range st.hlls {
		c.hlls[i] = st.hlls[i].clone()
	}
	return &c
}

// ToSpeed returns the state under its spec's Speed variant, to merge the speed
// layer's folds onto: st itself when the spec approximates nothing, otherwise a
// new state whose approximate features hold sketches of st's exact sets — the very
// sketches folding the same values would have built. st must be a state of the
// exact spec (Speed of a speed variant is itself).
func (st *State) ToSpeed() *State {
	sp := st.spec.speed
	if sp == st.spec {
		return st
	}
	c := st.Clone()
	c.spec = sp
	c.distinct = make([][]uint64, len(sp.cells[clsDistinct]))
	for i, from := range sp.fromExact[clsDistinct] {
		c.distinct[i] = slices.Clone(st.distinct[from])
	}
	c.hlls = make([]hll, len(sp.cells[clsHLL]))
	for i, from := range sp.fromExact[clsHLL] {
		c.hlls[i] = newHLL(sp.cells[clsHLL][i].p, st.distinct[from])
	}
	return c
}

// Equal reports whether two canonical states are identical (floats compared bitwise).
func (st *State) Equal(o *State) bool {
	if st.spec.fingerprint != o.spec.fingerprint || st.has != o.has || (st.has && st.newest != o.newest) {
		return false
	}
	sameFloat := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	return slices.Equal(st.counts, o.counts) &&
		slices.Equal(st.sums, o.sums) &&
		slices.EqualFunc(st.mins, o.mins, func(a, b valueCell) bool { return a.ok == b.ok && sameFloat(a.v, b.v) }) &&
		slices.EqualFunc(st.maxs, o.maxs, func(a, b valueCell) bool { return a.ok == b.ok && sameFloat(a.v, b.v) }) &&
		slices.EqualFunc(st.lasts, o.lasts, func(a, b lastCell) bool {
			return a.ok == b.ok && a.ts == b.ts && a.h == b.h && sameFloat(a.v, b.v)
		}) &&
		slices.EqualFunc(st.distinct, o.distinct, slices.Equal[[]uint64]) &&
		slices.Equal(st.recency, o.recency) &&
		slices.EqualFunc(st.wcounts, o.wcounts, slices.Equal[series]) &&
		slices.EqualFunc(st.wsums, o.wsums, slices.Equal[series]) &&
		slices.EqualFunc(st.hlls, o.hlls, func(a, b hll) bool { return a.equal(&b) })
}

// cut returns the newest bucket a window cell of k buckets can no longer need: as of
// any time at or after the state's newest event, a k-bucket window covers only
// buckets above bucket(newest) - k.
func (st *State) cut(k int64) int64 {
	return floorDiv(st.newest, st.spec.bucketUS) - k
}

// prune drops the window buckets no as-of at or after newest can read, making the
// state canonical.
func (st *State) prune() {
	if !st.has {
		return
	}
	for i := range st.wcounts {
		st.wcounts[i] = st.wcounts[i].prune(st.cut(st.spec.cells[clsWCount][i].k))
	}
	for i := range st.wsums {
		st.wsums[i] = st.wsums[i].prune(st.cut(st.spec.cells[clsWSum][i].k))
	}
}
