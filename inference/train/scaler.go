package train

import "math"

// scaler standardises features: z = (x - mean) / std, with std 1 for a constant feature.
type scaler struct {
	mean, std []float64
}

func fitScaler(d Dataset) scaler {
	w, n := d.Width(), float64(d.Len())
	s := scaler{mean: make([]float64, w), std: make([]float64, w)}
	for i := range d.Len() {
		for j, v := range d.Row(i) {
			s.mean[j] += float64(v)
		}
	}
	for j := range s.mean {
		s.mean[j] /= n
	}
	for i := range d.Len() {
		for j, v := range d.Row(i) {
			dv := float64(v) - s.mean[j]
			s.std[j] += dv * dv
		}
	}
	for j := range s.std {
		s.std[j] = math.Sqrt(s.std[j] / n)
		if s.std[j] < 1e-12 {
			s.std[j] = 1
		}
	}
	return s
}

// transform returns every row of d standardised, one after the other.
func (s scaler) transform(d Dataset) []float64 {
	z := make([]float64, len(d.X))
	w := d.Width()
	for i, v := range d.X {
		j := i % w
		z[i] = (float64(v) - s.mean[j]) / s.std[j]
	}
	return z
}

// fold rewrites a layer that reads standardised inputs, z·W + b with W row-major
// [len(mean), n], into one that reads raw inputs: W'ᵢⱼ = Wᵢⱼ/stdᵢ and
// b'ⱼ = bⱼ - Σᵢ Wᵢⱼ·meanᵢ/stdᵢ.
func (s scaler) fold(w, b []float64) (wRaw, bRaw []float32) {
	n := len(b)
	wRaw, bRaw = make([]float32, len(w)), make([]float32, n)
	shift := append([]float64(nil), b...)
	for i := range s.mean {
		for j := range n {
			wij := w[i*n+j] / s.std[i]
			wRaw[i*n+j] = float32(wij)
			shift[j] -= wij * s.mean[i]
		}
	}
	for j, v := range shift {
		bRaw[j] = float32(v)
	}
	return wRaw, bRaw
}
