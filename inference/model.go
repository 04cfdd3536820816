package inference

import (
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Meta describes a model version. The model registry stores it next to the ONNX bytes.
type Meta struct {
	Name    string
	Version int64
	// Features names the input columns in order. When set, their count must equal the
	// model's input width.
	Features []string
}

// String renders the model as name@version.
func (m Meta) String() string { return fmt.Sprintf("%s@%d", m.Name, m.Version) }

// Options tune a loaded model; zero values pick the defaults.
type Options struct {
	// Sessions is the number of ONNX Runtime sessions, so of runs in parallel
	// (default GOMAXPROCS).
	Sessions int
	// MaxBatch is the most rows per run; larger inputs are split (default 4096). A model with
	// a fixed batch size N uses N.
	MaxBatch int
	// IntraOpThreads is the number of threads one run may use (default 1: parallelism comes
	// from concurrent calls on separate sessions).
	IntraOpThreads int
	// Logger receives load and close events (default: discard).
	Logger *slog.Logger
	// Observer, when set, is told of every ONNX Runtime run (RunMetrics exports them).
	Observer Observer
}

// Observer is told of each ONNX Runtime run of a model: the rows it computed (padding
// included) and how long the run took. It is called on the scoring path, so it must be
// cheap and safe for concurrent use.
type Observer interface {
	ObserveRun(model string, rows int, took time.Duration)
}

// DefaultMaxBatch is the default number of rows per run.
const DefaultMaxBatch = 4096

// Model is a loaded model version, safe for concurrent use. Close releases it after the calls
// in flight have ended.
type Model struct {
	meta     Meta
	sig      signature
	maxBatch int
	pool     *pool
	log      *slog.Logger
	observer Observer // nil: runs are not timed

	// refs counts the owner's reference plus the calls in flight; 0 means closed.
	refs      atomic.Int64
	drained   chan struct{} // closed when refs reaches 0
	closeOnce sync.Once
	closeErr  error
}

// LoadModel creates sessions for the ONNX model in onnx. The model must have one float32
// input [N, F] and one float32 output [N] or [N, 1]; errors wrap ErrInvalidModel for anything
// else, ErrInputWidth when meta.Features does not match F, and ErrRuntimeNotInitialized before
// InitRuntime.
func LoadModel(onnx []byte, meta Meta, opts Options) (*Model, error) {
	start := time.Now()
	if !runtimeReady() {
		return nil, fmt.Errorf("model %s: %w", meta, ErrRuntimeNotInitialized)
	}
	sig, err := readSignature(onnx)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", meta, err)
	}
	if len(meta.Features) > 0 && len(meta.Features) != sig.width {
		return nil, fmt.Errorf("model %s: input %q has width %d, metadata lists %d features: %w",
			meta, sig.input, sig.width, len(meta.Features), ErrInputWidth)
	}
	opts = opts.withDefaults()
	if sig.batch > 0 {
		opts.MaxBatch = sig.batch
	}
	p, err := newPool(onnx, sig, opts.Sessions, opts.MaxBatch, opts.IntraOpThreads)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", meta, err)
	}
	meta.Features = slices.Clone(meta.Features)
	m := &Model{
		meta:     meta,
		sig:      sig,
		maxBatch: opts.MaxBatch,
		pool:     p,
		log:      opts.Logger.With("model", meta.Name, "version", meta.Version),
		observer: opts.Observer,
		drained:  make(chan struct{}),
	}
	m.refs.Store(1)
	m.log.Info("model loaded", "width", sig.width, "sessions", opts.Sessions,
		"max_batch", opts.MaxBatch, "bytes", len(onnx), "took", time.Since(start))
	return m, nil
}

func (o Options) withDefaults() Options {
	if o.Sessions <= 0 {
		o.Sessions = runtime.GOMAXPROCS(0)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.IntraOpThreads <= 0 {
		o.IntraOpThreads = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Meta returns the model's metadata; its Features slice is shared and must not be modified.
func (m *Model) Meta() Meta { return m.meta }

// Width returns the number of features per row.
func (m *Model) Width() int { return m.sig.width }

// Close waits for the calls in flight, then releases the sessions. Later calls fail with
// ErrModelClosed; Close may be called more than once.
func (m *Model) Close() error {
	m.closeOnce.Do(func() {
		m.release()
		<-m.drained
		m.closeErr = m.pool.destroy()
		m.log.Info("model closed")
	})
	return m.closeErr
}

// acquire takes a reference for one call; it fails once the model is closing.
func (m *Model) acquire() bool {
	for {
		n := m.refs.Load()
		if n == 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (m *Model) release() {
	if m.refs.Add(-1) == 0 {
		close(m.drained)
	}
}
