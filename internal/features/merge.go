package features

import "fmt"

// Merge folds o into st (st = st ⊕ o) and leaves o unchanged. It is exact for every
// aggregate: counts and fixed-point sums add, min/max/last/recency take the extreme,
// distinct sets unite, window buckets add, sketches take the greater register; then buckets too old for the merged newest
// event time are pruned, which commutes with merging because a state only ever
// prunes below its own newest time, and the merged newest is at least as new.
func (st *State) Merge(o *State) error {
	if st.spec.fingerprint != o.spec.fingerprint {
		return fmt.Errorf("merge: %w", ErrSpecMismatch)
	}
	if !o.has {
		return nil
	}
	if !st.has || o.newest > st.newest {
		st.newest = o.newest
	}
	st.has = true
	for i, n := range o.counts {
		st.counts[i] += n
	}
	for i, c := range o.sums {
		st.sums[i].n += c.n
		st.sums[i].s = st.sums[i].s.add(c.s)
	}
	for i, c := range o.mins {
		if c.ok && (!st.mins[i].ok || c.v < st.mins[i].v) {
			st.mins[i] = c
		}
	}
	for i, c := range o.maxs {
		if c.ok && (!st.maxs[i].ok || c.v > st.maxs[i].v) {
			st.maxs[i] = c
		}
	}
	for i, c := range o.lasts {
		if c.ok && (!st.lasts[i].ok || st.lasts[i].before(c.ts, c.h, c.v)) {
			st.lasts[i] = c
		}
	}
	for i, d := range o.distinct {
		st.distinct[i] = union(st.distinct[i], d)
	}
	for i, c := range o.recency {
		if c.ok && (!st.recency[i].ok || c.ts > st.recency[i].ts) {
			st.recency[i] = c
		}
	}
	for i, s := range o.wcounts {
		st.wcounts[i] = st.wcounts[i].merge(s)
	}
	for i, s := range o.wsums {
		st.wsums[i] = st.wsums[i].merge(s)
	}
	for i := range o.hlls {
		st.hlls[i].merge(&o.hlls[i])
	}
	st.prune()
	return nil
}

// before reports whether the cell's event orders before (ts, h, v): by event time,
// then by event-id hash, then by value, a total order so last is deterministic.
func (c lastCell) before(ts int64, h uint64, v float64) bool {
	switch {
	case c.ts != ts:
		return c.ts < ts
	case c.h != h:
		return c.h < h
	}
	return c.v < v
}

// union returns the sorted union of two sorted sets, reusing a when b adds nothing.
func union(a, b []uint64) []uint64 {
	if len(b) == 0 {
		return a
	}
	out := make([]uint64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
