// Package scoring keeps the model versions the serving layer's Open Inference Protocol
// endpoints score with, loaded from the model registry on first use.
//
// The active version of a model is served by an inference.Holder that a
// registry.Watcher keeps on the active version (it swaps at once on activation and
// rollback, without failing a request). Other versions asked for by number are loaded
// into a small cache of Options.Versions models, the least recently used closed first.
// A model's signature (input and output names, width) is read from its fp32 file once
// per version.
//
// Metrics (registry.NewMetrics, on the Registerer in Options):
// lambda_inference_model_swaps_total, lambda_inference_model_sync_errors_total and
// lambda_inference_model_loaded_version, by model.
package scoring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
)

// DefaultVersions is how many models loaded by version number are kept by default.
const DefaultVersions = 4

// Options tune a Set; zero values pick the defaults.
type Options struct {
	// Versions bounds the models loaded by version number (DefaultVersions).
	Versions int
	// Model tunes every loaded model.
	Model inference.Options
	// Registerer receives the watchers' metrics (none when nil).
	Registerer prometheus.Registerer
	// Logger receives loads, swaps and errors (default: discard).
	Logger *slog.Logger
}

// Set serves loaded model versions. It is safe for concurrent use; Close releases them.
type Set struct {
	reg     *registry.Registry
	opts    Options
	log     *slog.Logger
	metrics *registry.Metrics

	ctx    context.Context // watchers run under it; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	active   map[string]*activeModel
	versions []*versionModel // most recently used last
	sigs     map[modelKey]inference.Signature
}

type modelKey struct {
	name    string
	version int64
}

// activeModel is a model's active version, kept current by a watcher.
type activeModel struct {
	holder  *inference.Holder
	watcher *registry.Watcher
	loaded  chan struct{} // closed when the first load has ended
	err     error         // why the first load failed; set before loaded is closed
}

type versionModel struct {
	key   modelKey
	model *inference.Model
}

// New returns an empty Set over the registry. The ONNX Runtime must be initialised.
func New(reg *registry.Registry, opts Options) *Set {
	if opts.Versions <= 0 {
		opts.Versions = DefaultVersions
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Model.Logger = opts.Logger
	s := &Set{reg: reg, opts: opts, log: opts.Logger, active: map[string]*activeModel{}, sigs: map[modelKey]inference.Signature{}}
	if opts.Registerer != nil {
		s.metrics = registry.NewMetrics(opts.Registerer)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Use calls fn with the model name at version (0: the active version), loading it if
// needed. The active version stays open until fn returns; a version asked for by number
// may be evicted from the cache meanwhile, and fn failing with inference.ErrModelClosed
// is then called once more with it loaded again. Errors: registry.ErrNotFound for an
// unknown model or version, registry.ErrNoActive when version is 0 and none is active.
func (s *Set) Use(ctx context.Context, name string, version int64, fn func(m *inference.Model) error) error {
	a, err := s.activeOf(ctx, name)
	if err != nil {
		return err
	}
	if meta, ok := a.holder.Meta(); ok && (version == 0 || meta.Version == version) {
		err := a.holder.Use(fn)
		if !errors.Is(err, inference.ErrModelNotLoaded) {
			return err
		}
	}
	if version == 0 {
		// The watcher has not loaded a version (yet): sync once more, then answer.
		if _, err := a.watcher.Sync(ctx); err != nil {
			return fmt.Errorf("model %s: %w", name, err)
		}
		return a.holder.Use(fn)
	}
	// A model evicted from the cache between loading and scoring is closed: load again.
	for retried := false; ; retried = true {
		m, err := s.version(ctx, modelKey{name, version})
		if err != nil {
			return err
		}
		err = fn(m)
		if !errors.Is(err, inference.ErrModelClosed) || retried {
			return err
		}
	}
}

// activeOf returns the holder of the model's active version. The first request for a
// model loads it and starts its watcher while concurrent ones wait for that load; a
// model the registry does not know is forgotten again.
func (s *Set) activeOf(ctx context.Context, name string) (*activeModel, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, inference.ErrModelClosed
	}
	a, ok := s.active[name]
	if ok {
		s.mu.Unlock()
		select {
		case <-a.loaded:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if a.err != nil {
			return nil, a.err
		}
		return a, nil
	}
	holder := inference.NewHolder(s.log)
	a = &activeModel{
		holder:  holder,
		watcher: registry.NewWatcher(s.reg, name, holder, registry.WatcherOptions{Model: s.opts.Model, Metrics: s.metrics, Logger: s.log}),
		loaded:  make(chan struct{}),
	}
	s.active[name] = a
	s.mu.Unlock()

	defer close(a.loaded)
	if _, err := a.watcher.Sync(ctx); err != nil && !errors.Is(err, registry.ErrNoActive) {
		a.err = fmt.Errorf("model %s: %w", name, err)
		s.mu.Lock()
		if s.active[name] == a {
			delete(s.active, name)
		}
		s.mu.Unlock()
		_ = holder.Close()
		return nil, a.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // Close ran meanwhile, perhaps before the model was swapped in
		a.err = inference.ErrModelClosed
		_ = holder.Close()
		return nil, a.err
	}
	s.wg.Go(func() { a.watcher.Run(s.ctx) })
	return a, nil
}

// version returns the model key, loading it into the cache if needed.
func (s *Set) version(ctx context.Context, key modelKey) (*inference.Model, error) {
	if m, ok := s.cached(key); ok {
		return m, nil
	}
	v, err := s.reg.Version(ctx, key.name, key.version)
	if err != nil {
		return nil, err
	}
	m, err := s.reg.Load(ctx, v, registry.FP32, s.opts.Model)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = m.Close()
		return nil, inference.ErrModelClosed
	}
	if slices.ContainsFunc(s.versions, func(v *versionModel) bool { return v.key == key }) {
		s.mu.Unlock()
		_ = m.Close() // loaded meanwhile by another request
		return s.version(ctx, key)
	}
	s.versions = append(s.versions, &versionModel{key: key, model: m})
	var evicted *versionModel
	if len(s.versions) > s.opts.Versions {
		evicted, s.versions = s.versions[0], s.versions[1:]
	}
	s.mu.Unlock()
	if evicted != nil {
		go func() { _ = evicted.model.Close() }() // waits for the calls in flight
	}
	return m, nil
}

// cached returns the model key if the cache has it, marking it recently used.
func (s *Set) cached(key modelKey) (*inference.Model, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.versions, func(v *versionModel) bool { return v.key == key })
	if i < 0 {
		return nil, false
	}
	v := s.versions[i]
	s.versions = append(slices.Delete(s.versions, i, i+1), v)
	return v.model, true
}

// Signature returns the inputs and outputs of the model name at version, read once
// from its fp32 file.
func (s *Set) Signature(ctx context.Context, name string, version int64) (inference.Signature, error) {
	key := modelKey{name, version}
	s.mu.Lock()
	sig, ok := s.sigs[key]
	s.mu.Unlock()
	if ok {
		return sig, nil
	}
	onnx, _, err := s.reg.ONNX(ctx, name, version, registry.FP32)
	if err != nil {
		return inference.Signature{}, err
	}
	if sig, err = inference.Inspect(onnx); err != nil {
		return inference.Signature{}, fmt.Errorf("model %s@%d: %w", name, version, err)
	}
	s.mu.Lock()
	s.sigs[key] = sig
	s.mu.Unlock()
	return sig, nil
}

// Loaded reports whether the active version of the model name is loaded, loading it
// if it is not yet.
func (s *Set) Loaded(ctx context.Context, name string) error {
	return s.Use(ctx, name, 0, func(*inference.Model) error { return nil })
}

// Close stops the watchers and closes every model once its calls have ended.
func (s *Set) Close() error {
	s.mu.Lock()
	s.closed = true
	active, versions := s.active, s.versions
	s.active, s.versions = nil, nil
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	var errs []error
	for _, a := range active {
		errs = append(errs, a.holder.Close())
	}
	for _, v := range versions {
		errs = append(errs, v.model.Close())
	}
	return errors.Join(errs...)
}
