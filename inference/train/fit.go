package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Kind is a model family.
type Kind string

// The model families.
const (
	LogisticRegression Kind = "lr"
	MLP                Kind = "mlp"
)

// The demo's MLP sizes: SmallHidden (the default) makes a file of a few KB,
// LargeHidden one of about 150 KB, large enough for INT8 to shrink it about 4×.
var (
	SmallHidden = []int{64}
	LargeHidden = []int{256, 128}
)

// Kinds lists the model families.
var Kinds = []Kind{LogisticRegression, MLP}

// Errors returned by Fit, matched with errors.Is.
var (
	// ErrUnknownKind: Config.Kind is not one of Kinds.
	ErrUnknownKind = errors.New("unknown model kind")
	// ErrHidden: a hidden layer of Config.Hidden is not at least one unit wide.
	ErrHidden = errors.New("hidden layer widths must be > 0")
	// ErrNoData: the training set lacks rows of both labels.
	ErrNoData = errors.New("training set needs rows of both labels")
)

// Config tunes Fit; zero values pick the defaults.
type Config struct {
	Kind Kind // default LogisticRegression
	// Hidden are the widths of the MLP's hidden layers, first layer first (default one
	// layer of 64; SmallHidden and LargeHidden are the demo's sizes).
	Hidden []int
	// Epochs is the number of passes over the training set (default 40).
	Epochs int
	// BatchSize is the number of rows per gradient step (default 64).
	BatchSize int
	// LearningRate is Adam's step size (default 0.01 for LR, 0.003 for MLP).
	LearningRate float64
	// L2 is the weight decay added to the mean log-loss gradient, not to biases (default
	// 1e-3; negative: none). The features are strongly correlated (count_all and the counts
	// per type, windows and their totals); without decay the model learns large weights
	// that cancel, which int8 rounding then no longer cancels.
	L2 float64
	// Seed fixes the initial weights and the order of the rows: equal configs and data
	// give equal models.
	Seed uint64
}

func (c Config) withDefaults() Config {
	if c.Kind == "" {
		c.Kind = LogisticRegression
	}
	if len(c.Hidden) == 0 {
		c.Hidden = slices.Clone(SmallHidden)
	}
	if c.Epochs <= 0 {
		c.Epochs = 40
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 64
	}
	if c.LearningRate <= 0 {
		c.LearningRate = 0.01
		if c.Kind == MLP {
			c.LearningRate = 0.003
		}
	}
	switch {
	case c.L2 == 0:
		c.L2 = 1e-3
	case c.L2 < 0:
		c.L2 = 0
	}
	return c
}

// Result is a trained model with its metrics.
type Result struct {
	Config   Config // with defaults filled in
	Features []string
	Model    Model // takes raw feature vectors
	Train    Metrics
	Holdout  Metrics
	Took     time.Duration
}

// ONNX returns the model as an ONNX file.
func (r *Result) ONNX() ([]byte, error) {
	m, err := r.Model.Model()
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", r.Config.Kind, err)
	}
	return m.Marshal(), nil
}

// Fit trains a model on train and reports its metrics on train and holdout (which may be
// empty). It returns ctx's error when ctx ends between epochs.
func Fit(ctx context.Context, train, holdout Dataset, cfg Config) (*Result, error) {
	start := time.Now()
	cfg = cfg.withDefaults()
	if !slices.Contains(Kinds, cfg.Kind) {
		return nil, fmt.Errorf("%w %q: want one of %v", ErrUnknownKind, cfg.Kind, Kinds)
	}
	if cfg.Kind == MLP && slices.ContainsFunc(cfg.Hidden, func(h int) bool { return h <= 0 }) {
		return nil, fmt.Errorf("%w: %v", ErrHidden, cfg.Hidden)
	}
	pos := train.Positives()
	if pos == 0 || pos == train.Len() {
		return nil, fmt.Errorf("%d rows, %d labelled 1: %w", train.Len(), pos, ErrNoData)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x7261696e))
	s := fitScaler(train)
	z := s.transform(train)
	var net network = newLinear(train.Width())
	if cfg.Kind == MLP {
		net = newPerceptron(train.Width(), cfg.Hidden, r)
	}
	if err := optimise(ctx, net, z, train.Y, cfg, r); err != nil {
		return nil, err
	}
	m := net.export(s)
	base := float64(pos) / float64(train.Len())
	return &Result{
		Config:   cfg,
		Features: slices.Clone(train.Features),
		Model:    m,
		Train:    evaluate(train, m.Predict, base),
		Holdout:  evaluate(holdout, m.Predict, base),
		Took:     time.Since(start),
	}, nil
}

// Adam's moment decay rates and its guard against division by zero.
const (
	beta1, beta2 = 0.9, 0.999
	adamEps      = 1e-8
)

// optimise runs mini-batch Adam over the standardised rows z with labels y.
func optimise(ctx context.Context, net network, z []float64, y []float32, cfg Config, r *rand.Rand) error {
	p := net.params()
	g, m, v := make([]float64, len(p)), make([]float64, len(p)), make([]float64, len(p))
	w := len(z) / len(y)
	order := make([]int, len(y))
	for i := range order {
		order[i] = i
	}
	var t float64
	for epoch := range cfg.Epochs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("epoch %d: %w", epoch, err)
		}
		r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for batch := range slices.Chunk(order, cfg.BatchSize) {
			clear(g)
			for _, i := range batch {
				net.accumulate(z[i*w:(i+1)*w], float64(y[i]), g)
			}
			t++
			n := float64(len(batch))
			c1, c2 := 1-math.Pow(beta1, t), 1-math.Pow(beta2, t)
			for k := range p {
				gk := g[k] / n
				if k < net.weights() {
					gk += cfg.L2 * p[k]
				}
				m[k] = beta1*m[k] + (1-beta1)*gk
				v[k] = beta2*v[k] + (1-beta2)*gk*gk
				p[k] -= cfg.LearningRate * (m[k] / c1) / (math.Sqrt(v[k]/c2) + adamEps)
			}
		}
	}
	return nil
}
