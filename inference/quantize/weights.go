package quantize

import "math"

// qmax is the largest magnitude of a symmetric int8 value.
const qmax = 127

// maxRowSpread is how far the rows' largest |w| may differ before rows get scales of
// their own: below it, per-column scales lose little and the rows cost a Mul per run.
const maxRowSpread = 4

// weights is a [k, n] matrix quantised as W ≈ diag(rows) · Q · diag(cols).
type weights struct {
	k, n int
	rows []float32 // k row scales (each row's largest |w|), nil when rows are not scaled
	cols []float32 // n column scales of the row-normalised matrix
	q    []byte    // k×n int8 values, row-major, as raw tensor bytes
}

// quantizeWeights quantises w, row-major [k, n] and finite; it computes in float64 and
// rounds to nearest. An all-zero row gets the scale 0, which also zeroes its input in
// Dynamic, so an unused feature cannot widen the activations' range.
func quantizeWeights(w []float32, k, n int) weights {
	qw := weights{k: k, n: n, cols: make([]float32, n), q: make([]byte, k*n)}
	rows := make([]float64, k)
	lo, hi := math.Inf(1), 0.0
	for i := range k {
		for _, v := range w[i*n : (i+1)*n] {
			rows[i] = max(rows[i], math.Abs(float64(v)))
		}
		lo, hi = min(lo, rows[i]), max(hi, rows[i])
	}
	if hi > maxRowSpread*lo {
		qw.rows = make([]float32, k)
		for i, m := range rows {
			qw.rows[i] = float32(m)
			rows[i] = float64(qw.rows[i])
		}
	} else {
		for i := range rows {
			rows[i] = 1
		}
	}
	colMax := make([]float64, n)
	for i := range k {
		for j := range n {
			if rows[i] != 0 {
				colMax[j] = max(colMax[j], math.Abs(float64(w[i*n+j]))/rows[i])
			}
		}
	}
	for j, m := range colMax {
		qw.cols[j] = float32(scaleOr1(m / qmax))
	}
	for i := range k {
		for j := range n {
			if rows[i] == 0 {
				continue // q stays 0
			}
			v := math.Round(float64(w[i*n+j]) / rows[i] / float64(qw.cols[j]))
			qw.q[i*n+j] = byte(int8(max(-qmax, min(qmax, v))))
		}
	}
	return qw
}

// scaleOr1 maps a zero column scale to 1, so that an all-zero column quantises to zeros
// instead of dividing by zero.
func scaleOr1(s float64) float64 {
	if s == 0 {
		return 1
	}
	return s
}
