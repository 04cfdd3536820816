package train

import (
	"math"
	"math/rand/v2"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

// Model is a trained model that takes raw feature vectors: onnxmodel.LogisticRegression or
// onnxmodel.DeepMLP.
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

// perceptron has ReLU hidden layers of widths hid and one sigmoid output:
// p = σ(relu(…relu(x·W1 + b1)…)·Wout + bout). Its params are every layer's weights
// (in×out, row-major), first layer first, then every layer's biases in the same order.
type perceptron struct {
	p      []float64
	layers []layerParams
	acts   [][]float64 // scratch: each layer's input for the current row, acts[0] the row
	pre    [][]float64 // scratch: each layer's pre-activations
	delta  [][]float64 // scratch: the log-loss gradient of each layer's pre-activations
	nw     int
}

// layerParams are views into perceptron.p.
type layerParams struct {
	in, out int
	w, b    []float64
	wOff    int // offset of w in p, for the gradient's view
	bOff    int
}

// newPerceptron initialises the hidden layers with He-normal and the output layer with
// Glorot-normal weights from r, layer by layer, the biases at 0.
func newPerceptron(f int, hidden []int, r *rand.Rand) *perceptron {
	widths := append(append([]int{f}, hidden...), 1)
	m := &perceptron{}
	for l := range len(widths) - 1 {
		m.nw += widths[l] * widths[l+1]
	}
	n := m.nw
	for _, w := range widths[1:] {
		n += w
	}
	m.p = make([]float64, n)
	wOff, bOff := 0, m.nw
	for l := range len(widths) - 1 {
		in, out := widths[l], widths[l+1]
		lp := layerParams{in: in, out: out, w: m.p[wOff : wOff+in*out], b: m.p[bOff : bOff+out], wOff: wOff, bOff: bOff}
		scale := math.Sqrt(2 / float64(in))
		if l == len(widths)-2 {
			scale = math.Sqrt(2 / float64(in+1))
		}
		for i := range lp.w {
			lp.w[i] = r.NormFloat64() * scale
		}
		m.layers = append(m.layers, lp)
		m.acts = append(m.acts, make([]float64, in))
		m.pre = append(m.pre, make([]float64, out))
		m.delta = append(m.delta, make([]float64, out))
		wOff, bOff = wOff+in*out, bOff+out
	}
	return m
}

func (m *perceptron) params() []float64 { return m.p }
func (m *perceptron) weights() int      { return m.nw }

func (m *perceptron) accumulate(x []float64, y float64, g []float64) {
	last := len(m.layers) - 1
	copy(m.acts[0], x)
	for l, lp := range m.layers {
		pre := m.pre[l]
		copy(pre, lp.b)
		for i, a := range m.acts[l] {
			if a == 0 {
				continue
			}
			for j, w := range lp.w[i*lp.out : (i+1)*lp.out] {
				pre[j] += a * w
			}
		}
		if l < last {
			for j, v := range pre {
				m.acts[l+1][j] = max(v, 0)
			}
		}
	}
	m.delta[last][0] = sigmoid(m.pre[last][0]) - y
	for l := last; l >= 0; l-- {
		lp, delta := m.layers[l], m.delta[l]
		gw, gb := g[lp.wOff:lp.wOff+lp.in*lp.out], g[lp.bOff:lp.bOff+lp.out]
		for j, d := range delta {
			gb[j] += d
		}
		for i, a := range m.acts[l] {
			if a == 0 {
				continue
			}
			row := gw[i*lp.out : (i+1)*lp.out]
			for j, d := range delta {
				row[j] += a * d
			}
		}
		if l == 0 {
			break
		}
		// Back through the ReLU: only units that were active pass a gradient.
		below := m.delta[l-1]
		for i, v := range m.pre[l-1] {
			below[i] = 0
			if v > 0 {
				var s float64
				for j, w := range lp.w[i*lp.out : (i+1)*lp.out] {
					s += w * delta[j]
				}
				below[i] = s
			}
		}
	}
}

func (m *perceptron) export(s scaler) Model {
	layers := make([]onnxmodel.Dense, len(m.layers))
	for l, lp := range m.layers {
		if l == 0 {
			w, b := s.fold(lp.w, lp.b)
			layers[l] = onnxmodel.Dense{W: w, B: b}
			continue
		}
		layers[l] = onnxmodel.Dense{W: toFloat32(lp.w), B: toFloat32(lp.b)}
	}
	return onnxmodel.DeepMLP{Layers: layers}
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
