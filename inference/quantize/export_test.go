package quantize

// Dequantized quantises w, row-major [k, n], and returns the matrix the int8 form stands
// for, with the bound on each element's rounding error, and whether rows got scales.
func Dequantized(w []float32, k, n int) (got, bound []float64, rowScaled bool) {
	qw := quantizeWeights(w, k, n)
	got, bound = make([]float64, k*n), make([]float64, k*n)
	for i := range k {
		r := 1.0
		if qw.rows != nil {
			r = float64(qw.rows[i])
		}
		for j := range n {
			s := r * float64(qw.cols[j])
			got[i*n+j] = float64(int8(qw.q[i*n+j])) * s
			bound[i*n+j] = s / 2
		}
	}
	return got, bound, qw.rows != nil
}
