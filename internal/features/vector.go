package features

import (
	"time"
)

// Vector returns the model input row for the state as of asOf, in spec order.
func (st *State) Vector(asOf time.Time) []float32 {
	return st.AppendVector(make([]float32, 0, len(st.spec.features)), asOf)
}

// AppendVector appends the model input row for the state as of asOf to dst and
// returns it; it does not allocate when dst has room for Spec.Len values.
//
// asOf should be at or after the newest event folded into the state (see the package
// doc for the recommended choice). Unwindowed aggregates cover every folded event;
// recency is clamped at 0; windows cover the buckets in (bucket(asOf)-k, bucket(asOf)].
func (st *State) AppendVector(dst []float32, asOf time.Time) []float32 {
	s := st.spec
	at := asOf.UnixMicro()
	bAt := floorDiv(at, s.bucketUS)
	for _, f := range s.features {
		v := f.def
		switch f.cls {
		case clsCount:
			v = float64(st.counts[f.cell])
		case clsSum:
			if c := st.sums[f.cell]; f.agg == aggSum {
				v = c.s.units()
			} else if c.n > 0 {
				v = c.s.units() / float64(c.n)
			}
		case clsMin:
			if c := st.mins[f.cell]; c.ok {
				v = c.v
			}
		case clsMax:
			if c := st.maxs[f.cell]; c.ok {
				v = c.v
			}
		case clsLast:
			if c := st.lasts[f.cell]; c.ok {
				v = c.v
			}
		case clsDistinct:
			v = float64(len(st.distinct[f.cell]))
		case clsHLL:
			v = st.hlls[f.cell].estimate()
		case clsRecency:
			if c := st.recency[f.cell]; c.ok {
				v = max(0, float64(at-c.ts)/1e6)
			}
		case clsWCount:
			n, _ := st.wcounts[f.cell].window(bAt, f.k)
			v = float64(n)
		case clsWSum:
			n, sum := st.wsums[f.cell].window(bAt, f.k)
			if f.agg == aggSum {
				v = sum.units()
			} else if n > 0 {
				v = sum.units() / float64(n)
			}
		}
		dst = append(dst, float32(v))
	}
	return dst
}
