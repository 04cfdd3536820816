package train

import (
	"math"
	"math/rand/v2"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

// Model is a trained model that takes raw feature vectors: onnxmodel.LogisticRegression or
// onnxmodel.MLP.
type Model interface {
	// Model builds the ONNX graph.
	Model() (*onnxmodel.Model, error)
	// Predict evaluates one row in pure Go.
	Predict(x []float32) float32
}

// network is a model being trained on standardised rows. Its parameters are one vector
// that the optimiser updates in place, the weights (which take L2 decay) before the biases.
type network interface {
	params() []float64
	weights() int
	// accumulate adds the log-loss gradient of row x with label y to g.
	accumulate(x []float64, y float64, g []float64)
	// export returns the model for raw rows, folding the standardisation into it.
	export(s scaler) Model
}

// linear is logistic regression: p = σ(x·w + b); params are [w…, b].
type linear struct {
	p []float64
	f int
}

func newLinear(f int) *linear { return &linear{p: make([]float64, f+1), f: f} }

func (l *linear) params() []float64 { return l.p }
func (l *linear) weights() int      { return l.f }

func (l *linear) accumulate(x []float64, y float64, g []float64) {
	z := l.p[l.f]
	for i, xi := range x {
		z += l.p[i] * xi
	}
	d := sigmoid(z) - y
	for i, xi := range x {
		g[i] += d * xi
	}
	g[l.f] += d
}

func (l *linear) export(s scaler) Model {
	w, b := s.fold(l.p[:l.f], l.p[l.f:])
	return onnxmodel.LogisticRegression{W: w, B: b[0]}
}

// perceptron has one hidden ReLU layer: p = σ(relu(x·W1 + b1)·w2 + b2); params are
// [W1 (f×h, row-major)…, w2…, b1…, b2].
type perceptron struct {
	p     []float64
	f, h  int
	hid   []float64 // scratch: hidden pre-activations of the current row
	dhid  []float64 // scratch: their gradients
	w1    []float64 // views into p
	w2    []float64
	b1    []float64
	b2idx int
}

// newPerceptron initialises W1 with He-normal and w2 with Glorot-normal weights from r,
// the biases at 0.
func newPerceptron(f, h int, r *rand.Rand) *perceptron {
	n := f*h + h + h + 1
	m := &perceptron{p: make([]float64, n), f: f, h: h, hid: make([]float64, h), dhid: make([]float64, h)}
	m.w1, m.w2, m.b1, m.b2idx = m.p[:f*h], m.p[f*h:f*h+h], m.p[f*h+h:f*h+2*h], n-1
	for i := range m.w1 {
		m.w1[i] = r.NormFloat64() * math.Sqrt(2/float64(f))
	}
	for j := range m.w2 {
		m.w2[j] = r.NormFloat64() * math.Sqrt(2/float64(h+1))
	}
	return m
}

func (m *perceptron) params() []float64 { return m.p }
func (m *perceptron) weights() int      { return m.f*m.h + m.h }

func (m *perceptron) accumulate(x []float64, y float64, g []float64) {
	f, h := m.f, m.h
	copy(m.hid, m.b1)
	for i, xi := range x {
		if xi == 0 {
			continue
		}
		row := m.w1[i*h : (i+1)*h]
		for j, w := range row {
			m.hid[j] += xi * w
		}
	}
	z := m.p[m.b2idx]
	for j, a := range m.hid {
		if a > 0 {
			z += a * m.w2[j]
		}
	}
	d := sigmoid(z) - y
	gw1, gw2, gb1 := g[:f*h], g[f*h:f*h+h], g[f*h+h:f*h+2*h]
	for j, a := range m.hid {
		m.dhid[j] = 0
		if a > 0 {
			gw2[j] += d * a
			m.dhid[j] = d * m.w2[j]
			gb1[j] += m.dhid[j]
		}
	}
	for i, xi := range x {
		if xi == 0 {
			continue
		}
		row := gw1[i*h : (i+1)*h]
		for j, dh := range m.dhid {
			row[j] += xi * dh
		}
	}
	g[m.b2idx] += d
}

func (m *perceptron) export(s scaler) Model {
	w1, b1 := s.fold(m.w1, m.b1)
	return onnxmodel.MLP{W1: w1, B1: b1, W2: toFloat32(m.w2), B2: float32(m.p[m.b2idx])}
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
