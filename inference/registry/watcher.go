package registry

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/internal/refresh"
)

// DefaultPoll is how often a watcher polls when no notification arrives.
const DefaultPoll = 10 * time.Second

// WatcherOptions tune a Watcher; zero values pick the defaults.
type WatcherOptions struct {
	// Variant is the file to load (default FP32). A version without it is loaded from its
	// fp32 file, which every version has.
	Variant Variant
	// Poll is the interval of the fallback poll and of reconnecting the listener
	// (default DefaultPoll).
	Poll time.Duration
	// Model tunes the loaded models.
	Model inference.Options
	// Metrics, when set, count swaps and errors.
	Metrics *Metrics
	// Logger receives swaps and errors (default: discard).
	Logger *slog.Logger
}

// Watcher keeps an inference.Holder on the active version of one model.
type Watcher struct {
	reg    *Registry
	name   string
	holder *inference.Holder
	opts   WatcherOptions
	log    *slog.Logger

	mu     sync.Mutex // serialises syncs
	loaded loadedFile // what the holder serves, zero before the first swap
}

// loadedFile identifies a loaded file: a re-registered version with other bytes reloads.
type loadedFile struct {
	version int64
	sha256  string
}

// NewWatcher returns a watcher that keeps holder on the active version of the model name.
func NewWatcher(reg *Registry, name string, holder *inference.Holder, opts WatcherOptions) *Watcher {
	if opts.Variant == "" {
		opts.Variant = FP32
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Metrics.watching(name)
	return &Watcher{reg: reg, name: name, holder: holder, opts: opts, log: log.With("model", name, "variant", opts.Variant)}
}

// Run syncs at once, then on every notification for the model and at every poll, until ctx
// ends. A failed sync is logged and counted, and the holder keeps serving what it has.
func (w *Watcher) Run(ctx context.Context) {
	refresh.Loop(ctx, w.opts.Poll,
		func(ctx context.Context, notify func()) error {
			return w.reg.Listen(ctx, notify, func(model string) {
				if model == w.name {
					notify()
				}
			})
		},
		func(ctx context.Context) {
			_, err := w.Sync(ctx)
			switch {
			case ctx.Err() != nil:
			case errors.Is(err, ErrNoActive):
				w.log.Debug("no active model version yet")
			case err != nil:
				w.log.Warn("model sync failed, serving the loaded version", "loaded", w.loadedVersion(), "err", err)
			}
		},
		func(err error) {
			w.log.Warn("model notifications lost, polling until the listener reconnects", "err", err, "retry_in", w.opts.Poll)
		})
}

// Sync loads the active version into the holder unless the holder serves it already, and
// reports whether it swapped. It returns ErrNoActive while the model has no active version.
func (w *Watcher) Sync(ctx context.Context) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	swapped, err := w.sync(ctx)
	if err != nil && !errors.Is(err, ErrNoActive) && ctx.Err() == nil {
		w.opts.Metrics.syncFailed(w.name)
	}
	return swapped, err
}

func (w *Watcher) sync(ctx context.Context) (bool, error) {
	v, err := w.reg.Active(ctx, w.name)
	if err != nil {
		return false, err
	}
	variant := w.opts.Variant
	a, ok := v.Artifact(variant)
	if !ok {
		variant = FP32
		a, _ = v.Artifact(variant)
	}
	if w.loaded == (loadedFile{version: v.Version, sha256: a.SHA256}) {
		return false, nil
	}
	start := time.Now()
	m, err := w.reg.Load(ctx, v, variant, w.opts.Model)
	if err != nil {
		return false, err
	}
	if err := w.holder.Swap(m); err != nil {
		w.log.Warn("closing the replaced model failed", "err", err)
	}
	from := w.loaded.version
	w.loaded = loadedFile{version: v.Version, sha256: a.SHA256}
	w.opts.Metrics.swapped(w.name, v.Version)
	w.log.Info("model version swapped in", "version", v.Version, "from", from, "file", variant,
		"sha256", a.SHA256, "took", time.Since(start))
	return true, nil
}

func (w *Watcher) loadedVersion() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.loaded.version
}
