package tradeoffs

import (
	"math"

	dto "github.com/prometheus/client_model/go"
)

// hist is a histogram's cumulative buckets, or a counter (no buckets, value in sum).
type hist struct {
	count, sum float64
	bounds     []float64 // upper bounds, ascending; +Inf is implied by count
	cum        []float64 // cumulative counts per bound
}

// histOf reads a Prometheus metric of a histogram or counter family.
func histOf(m *dto.Metric) hist {
	if c := m.GetCounter(); c != nil {
		return hist{sum: c.GetValue()}
	}
	h := m.GetHistogram()
	out := hist{count: float64(h.GetSampleCount()), sum: h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			out.bounds = append(out.bounds, b.GetUpperBound())
			out.cum = append(out.cum, float64(b.GetCumulativeCount()))
		}
	}
	return out
}

// plus adds o, a series of the same family (the same buckets).
func (h hist) plus(o hist) hist {
	out := hist{count: h.count + o.count, sum: h.sum + o.sum, bounds: o.bounds}
	if h.bounds == nil {
		out.cum = append([]float64(nil), o.cum...)
		return out
	}
	out.bounds = h.bounds
	out.cum = make([]float64, len(h.cum))
	for i := range h.cum {
		out.cum[i] = h.cum[i]
		if i < len(o.cum) {
			out.cum[i] += o.cum[i]
		}
	}
	return out
}

// minus is what was observed between old and h. A counter that went back (the
// process restarted) counts from zero.
func (h hist) minus(old hist) hist {
	if old.count > h.count || old.sum > h.sum || len(old.cum) != len(h.cum) {
		return h
	}
	out := hist{count: h.count - old.count, sum: h.sum - old.sum, bounds: h.bounds, cum: make([]float64, len(h.cum))}
	for i := range h.cum {
		out.cum[i] = h.cum[i] - old.cum[i]
	}
	return out
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile does: linear
// within the bucket the rank falls in; the highest finite bound when it falls in the
// +Inf bucket. Nil when nothing was observed.
func (h hist) quantile(q float64) *float64 {
	if h.count == 0 || len(h.bounds) == 0 {
		return nil
	}
	rank := q * h.count
	lower, below := 0.0, 0.0
	for i, upper := range h.bounds {
		if h.cum[i] >= rank {
			in := h.cum[i] - below
			v := upper
			if in > 0 {
				v = lower + (upper-lower)*(rank-below)/in
			}
			return &v
		}
		lower, below = upper, h.cum[i]
	}
	v := h.bounds[len(h.bounds)-1]
	return &v
}

// mean is sum / count; nil when nothing was observed.
func (h hist) mean() *float64 {
	if h.count == 0 {
		return nil
	}
	v := h.sum / h.count
	return &v
}
