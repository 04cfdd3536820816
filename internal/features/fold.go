package features

import (
	"github.com/cespare/xxhash/v2"

	"github.com/lambda-platform/lambda/internal/event"
)

// row is the event being folded, reused across events to avoid allocation.
type row struct {
	id     string // event_id
	ts     int64  // event time, unix µs
	v      float64
	hasV   bool
	h      uint64 // xxhash64 of id, valid when hashed
	hashed bool
	// attrHash[a] is the hash of attr spec.attrs[a]'s value when attrOK[a].
	attrHash []uint64
	attrOK   []bool
}

// core is the fold shared by Folder and Stream: the per-row work after the caller
// has selected the row's entity (st, seen).
type core struct {
	spec *Spec
	ev   row
	st   *State
	seen *idSet
	id   string // current entity, an owned copy
	ok   bool   // id, st and seen are set
}

func newCore(spec *Spec) core {
	return core{spec: spec, ev: row{attrHash: make([]uint64, len(spec.attrs)), attrOK: make([]bool, len(spec.attrs))}}
}

// addEvent folds e into the current entity.
func (c *core) addEvent(e *event.Event) {
	t := c.spec.typeIndex(e.Type)
	if t < 0 || !c.firstSeen(e.EventID) {
		return
	}
	c.ev.set(c.spec, t, e)
	c.st.fold(&c.spec.refs[t], &c.ev)
}

// Adder folds single events into states of its spec, with no check for duplicates:
// for a caller that deduplicates itself and keeps its states (the speed layer's
// deltas). Folding an event into a state gives the state merged with the event's
// fold, without building and merging that fold. An Adder is not safe for concurrent
// use.
type Adder struct {
	spec *Spec
	ev   row
}

// NewAdder returns an Adder for spec.
func (s *Spec) NewAdder() *Adder { return &Adder{spec: s, ev: newCore(s).ev} }

// Add folds e into each of states, which must be states of the Adder's spec, and
// reports whether the spec counts e at all (an excluded type changes nothing). Call
// Settle on a state once its events of a batch are added.
func (a *Adder) Add(e *event.Event, states ...*State) bool {
	t := a.spec.typeIndex(e.Type)
	if t < 0 {
		return false
	}
	a.ev.id, a.ev.hashed = e.EventID, false
	a.ev.set(a.spec, t, e)
	for _, st := range states {
		st.fold(&a.spec.refs[t], &a.ev)
	}
	return true
}

// Settle puts st in canonical form (prunes window buckets no as_of can read), as a
// Folder's States do.
func (st *State) Settle() { st.prune() }

// set makes r the event e, of type index t, as far as spec reads it.
func (r *row) set(spec *Spec, t int, e *event.Event) {
	refs := &spec.refs[t]
	r.ts = e.TS.UnixMicro()
	r.hasV = false
	if refs.values && e.Value != nil {
		r.v, r.hasV = cleanValue(*e.Value)
	}
	if refs.attrs {
		for a, name := range spec.attrs {
			v, ok := e.Attrs[name]
			r.attrOK[a] = ok
			if ok {
				r.attrHash[a] = xxhash.Sum64String(v)
			}
		}
	}
}

// firstSeen sets the event id of ev and reports whether the current entity has not
// folded it yet (an empty id is never a duplicate).
func (c *core) firstSeen(id string) bool {
	c.ev.id, c.ev.hashed = id, false
	return id == "" || c.seen.insert(id)
}

// idHash returns the stable hash of the event id that last cells persist.
func (r *row) idHash() uint64 {
	if !r.hashed {
		r.h, r.hashed = xxhash.Sum64String(r.id), true
	}
	return r.h
}

// fold adds one deduplicated, non-excluded event to the state.
func (st *State) fold(refs *typeRefs, ev *row) {
	if !st.has || ev.ts > st.newest {
		st.newest = ev.ts
	}
	st.has = true
	cells := &refs.cells
	for _, i := range cells[clsCount] {
		st.counts[i]++
	}
	for _, i := range cells[clsRecency] {
		if c := &st.recency[i]; !c.ok || ev.ts > c.ts {
			*c = tsCell{ok: true, ts: ev.ts}
		}
	}
	for _, i := range cells[clsDistinct] {
		if a := st.spec.distinctAttr[i]; ev.attrOK[a] {
			st.distinct[i] = insertSorted(st.distinct[i], ev.attrHash[a])
		}
	}
	for _, i := range cells[clsHLL] {
		if a := st.spec.hllAttr[i]; ev.attrOK[a] {
			st.hlls[i].add(ev.attrHash[a])
		}
	}
	windowed := len(cells[clsWCount])+len(cells[clsWSum]) > 0
	var b, nb int64
	if windowed {
		b, nb = floorDiv(ev.ts, st.spec.bucketUS), floorDiv(st.newest, st.spec.bucketUS)
	}
	for _, i := range cells[clsWCount] {
		st.wcounts[i] = addToSeries(st.wcounts[i], b, nb-st.spec.cells[clsWCount][i].k, 0)
	}
	if !ev.hasV {
		return
	}
	q := quantise(ev.v)
	for _, i := range cells[clsSum] {
		st.sums[i].n++
		st.sums[i].s = st.sums[i].s.addInt64(q)
	}
	for _, i := range cells[clsMin] {
		if c := &st.mins[i]; !c.ok || ev.v < c.v {
			*c = valueCell{ok: true, v: ev.v}
		}
	}
	for _, i := range cells[clsMax] {
		if c := &st.maxs[i]; !c.ok || ev.v > c.v {
			*c = valueCell{ok: true, v: ev.v}
		}
	}
	for _, i := range cells[clsLast] {
		if c := &st.lasts[i]; !c.ok || ev.ts >= c.ts && c.before(ev.ts, ev.idHash(), ev.v) {
			*c = lastCell{ok: true, ts: ev.ts, h: ev.idHash(), v: ev.v}
		}
	}
	for _, i := range cells[clsWSum] {
		st.wsums[i] = addToSeries(st.wsums[i], b, nb-st.spec.cells[clsWSum][i].k, q)
	}
}

// addToSeries adds an event in bucket b to a window cell whose buckets at or below
// cut are no longer needed: such an event is dropped and such buckets pruned.
func addToSeries(s series, b, cut, q int64) series {
	if b <= cut {
		return s
	}
	if len(s) > 0 && s[0].b <= cut {
		s = s.prune(cut)
	}
	return s.add(b, q)
}

// insertSorted adds h to the sorted set s.
func insertSorted(s []uint64, h uint64) []uint64 {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(s) && s[lo] == h {
		return s
	}
	s = append(s, 0)
	copy(s[lo+1:], s[lo:])
	s[lo] = h
	return s
}
