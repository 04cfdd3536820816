package edgenode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// Defaults for the zero fields of Config.
const (
	DefaultPoll    = 30 * time.Second
	DefaultTimeout = 30 * time.Second
)

// maxManifestBytes bounds a manifest or model list read from the upstream.
const maxManifestBytes = 16 << 20

// Config is what a Mirror mirrors, from where, and where it keeps it.
type Config struct {
	// Upstream is the base URL of the platform's HTTP API, e.g. http://central:8080.
	Upstream string
	// Token, when set, is sent as the bearer token (the upstream's read token).
	Token string
	// Dir keeps the verified versions across restarts.
	Dir string
	// Models are the models mirrored; none: every model with an active version upstream.
	Models []string
	// Variants are the files downloaded and served for download (default fp32 and int8,
	// whichever the version has); Score, which must be among them, is the one infer
	// scores with (default fp32).
	Variants []registry.Variant
	Score    registry.Variant
	// Poll is the time between syncs, Timeout bounds one request to the upstream.
	Poll    time.Duration
	Timeout time.Duration
	// Model tunes the loaded models.
	Model inference.Options
}

func (c Config) withDefaults() (Config, error) {
	if c.Upstream == "" {
		return c, errors.New("upstream: required")
	}
	if u, err := url.Parse(c.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("upstream %q: want an http(s) URL such as http://central:8080", c.Upstream)
	}
	c.Upstream = strings.TrimSuffix(c.Upstream, "/")
	if c.Dir == "" {
		return c, errors.New("dir: required")
	}
	if len(c.Variants) == 0 {
		c.Variants = registry.Variants
	}
	if c.Score == "" {
		c.Score = registry.FP32
	}
	for _, v := range c.Variants {
		if !slices.Contains(registry.Variants, v) {
			return c, fmt.Errorf("variant %q: want one of %v", v, registry.Variants)
		}
	}
	if !slices.Contains(c.Variants, c.Score) {
		return c, fmt.Errorf("score variant %q: not among the mirrored variants %v", c.Score, c.Variants)
	}
	for _, name := range c.Models {
		if err := registry.CheckName(name); err != nil {
			return c, err
		}
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c, nil
}

// Mirror keeps verified copies of the upstream's active versions and serves them. It
// is safe for concurrent use; Close releases the loaded models.
type Mirror struct {
	cfg     Config
	disk    disk
	client  *http.Client
	log     *slog.Logger
	metrics *metrics

	lastSync atomic.Int64 // unix nanoseconds of the last successful sync; 0: none
	lastErr  atomic.Pointer[string]

	mu     sync.RWMutex
	models map[string]*entry
}

// entry is one mirrored model.
type entry struct {
	holder  *inference.Holder
	version registry.Version // the version served, with the files kept
	files   map[registry.Variant][]byte
	sigs    map[int64]inference.Signature // the version served and the one before it
	etag    string                        // of the upstream manifest that named it; "" after a restart
}

// New returns a Mirror serving the versions cfg.Dir holds, each verified against its
// recorded sha256 (one that fails is logged and skipped). The ONNX Runtime must be
// initialised. Run keeps it in sync with the upstream.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Mirror, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Model.Logger = log
	m := &Mirror{cfg: cfg, disk: disk{cfg.Dir}, client: &http.Client{Timeout: cfg.Timeout}, log: log, models: map[string]*entry{}}
	m.metrics = newMetrics(reg, m.syncAge)
	if err := m.restore(); err != nil {
		return nil, err
	}
	return m, nil
}

// restore loads the versions on disk; the last sync is the oldest of theirs.
func (m *Mirror) restore() error {
	names, err := m.disk.models()
	if err != nil {
		return fmt.Errorf("read %s: %w", m.cfg.Dir, err)
	}
	var oldest time.Time
	for _, name := range names {
		if len(m.cfg.Models) > 0 && !slices.Contains(m.cfg.Models, name) {
			continue
		}
		v, files, synced, err := m.disk.load(name)
		if err != nil {
			m.log.Warn("edge: ignoring the copy on disk", "model", name, "err", err)
			continue
		}
		l, err := m.load(v, files)
		if err != nil {
			m.log.Warn("edge: ignoring the copy on disk", "model", name, "err", err)
			continue
		}
		m.swapIn(v, files, l, "")
		if oldest.IsZero() || synced.Before(oldest) {
			oldest = synced
		}
		m.log.Info("edge: serving from disk", "model", name, "version", v.Version, "synced_at", synced)
	}
	if !oldest.IsZero() {
		m.setSynced(oldest)
	}
	return nil
}

// Run syncs with the upstream every poll interval until ctx ends. A failure is logged
// as a warning when it starts or changes, at debug level while it repeats.
func (m *Mirror) Run(ctx context.Context) {
	var failing string
	for {
		err := m.Sync(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil && err.Error() != failing:
			failing = err.Error()
			m.log.Warn("edge: sync with the upstream failed; serving the last verified versions", "upstream", m.cfg.Upstream, "err", err)
		case err != nil:
			m.log.Debug("edge: sync with the upstream failed again", "upstream", m.cfg.Upstream, "err", err)
		case failing != "":
			failing = ""
			m.log.Info("edge: in sync with the upstream again", "upstream", m.cfg.Upstream)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.cfg.Poll):
		}
	}
}

// Sync brings every mirrored model to the upstream's active version. A model that
// cannot be brought there keeps the version it has.
func (m *Mirror) Sync(ctx context.Context) error {
	names := m.cfg.Models
	if len(names) == 0 {
		var err error
		if names, err = m.activeModels(ctx); err != nil {
			return m.failed(err)
		}
	}
	var errs []error
	for _, name := range names {
		if err := m.syncModel(ctx, name); err != nil {
			errs = append(errs, m.failed(fmt.Errorf("model %s: %w", name, err)))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	now := time.Now()
	m.setSynced(now)
	m.lastErr.Store(nil)
	for _, name := range names {
		if err := m.disk.touch(name, now); err != nil {
			m.log.Warn("edge: record the sync time", "model", name, "err", err)
		}
	}
	return nil
}

// syncModel revalidates the model's manifest and installs its active version when it
// is not the one served.
func (m *Mirror) syncModel(ctx context.Context, name string) error {
	m.mu.RLock()
	e := m.models[name]
	var etag string
	var served int64
	if e != nil {
		etag, served = e.etag, e.version.Version
	}
	m.mu.RUnlock()
	resp, err := m.get(ctx, "/v1/models/"+url.PathEscape(name), etag)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil
	case http.StatusOK:
	default:
		return statusError(resp)
	}
	var man api.ModelManifest
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxManifestBytes)).Decode(&man); err != nil {
		return &syncError{reasonManifest, fmt.Errorf("manifest: %w", err)}
	}
	newTag := resp.Header.Get("ETag")
	if man.ActiveVersion == nil {
		return &syncError{reasonManifest, errors.New("no active version upstream")}
	}
	i := slices.IndexFunc(man.Versions, func(v api.ModelVersion) bool { return v.Version == *man.ActiveVersion })
	if i < 0 || man.Versions[i].Name != name {
		return &syncError{reasonManifest, fmt.Errorf("the manifest does not list its active version %d", *man.ActiveVersion)}
	}
	if *man.ActiveVersion == served {
		m.setETag(name, newTag)
		return nil
	}
	v, files, err := m.download(ctx, man.Versions[i])
	if err != nil {
		return err
	}
	l, err := m.load(v, files)
	if err != nil {
		return err
	}
	if err := m.disk.save(v, files); err != nil {
		_ = l.model.Close()
		return &syncError{reasonDisk, err}
	}
	m.swapIn(v, files, l, newTag)
	m.metrics.swaps.WithLabelValues(name).Inc()
	m.log.Info("edge: new version verified and swapped in", "model", name, "from", served, "to", v.Version)
	return nil
}

// loaded is a version's scoring file loaded into the ONNX Runtime.
type loaded struct {
	model *inference.Model
	sig   inference.Signature
}

// load loads the version's scoring file.
func (m *Mirror) load(v api.ModelVersion, files map[registry.Variant][]byte) (loaded, error) {
	rv := toVersion(v)
	onnx := files[m.cfg.Score]
	if onnx == nil {
		return loaded{}, &syncError{reasonManifest, fmt.Errorf("%s has no %s file", rv, m.cfg.Score)}
	}
	sig, err := inference.Inspect(onnx)
	if err != nil {
		return loaded{}, &syncError{reasonLoad, fmt.Errorf("%s %s: %w", rv, m.cfg.Score, err)}
	}
	model, err := inference.LoadModel(onnx, rv.Meta(), m.cfg.Model)
	if err != nil {
		return loaded{}, &syncError{reasonLoad, fmt.Errorf("%s %s: %w", rv, m.cfg.Score, err)}
	}
	return loaded{model, sig}, nil
}

// swapIn makes the loaded version the one served; etag is the upstream manifest's
// that named it.
func (m *Mirror) swapIn(v api.ModelVersion, files map[registry.Variant][]byte, l loaded, etag string) {
	m.mu.Lock()
	e := m.models[v.Name]
	if e == nil {
		e = &entry{holder: inference.NewHolder(m.log)}
		m.models[v.Name] = e
	}
	sigs := map[int64]inference.Signature{v.Version: l.sig}
	if old, ok := e.sigs[e.version.Version]; ok {
		sigs[e.version.Version] = old // for the calls still scoring with it
	}
	e.version, e.files, e.sigs, e.etag = toVersion(v), files, sigs, etag
	m.mu.Unlock()
	m.metrics.version.WithLabelValues(v.Name).Set(float64(v.Version))
	// Swap waits for the old version's calls in flight, then closes it.
	if err := e.holder.Swap(l.model); err != nil {
		m.log.Warn("edge: close the replaced version", "model", v.Name, "err", err)
	}
}

func (m *Mirror) setETag(name, etag string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.models[name]; e != nil {
		e.etag = etag
	}
}

// failed counts err by its reason and keeps it for Detail.
func (m *Mirror) failed(err error) error {
	reason := reasonUnreachable
	if se, ok := errors.AsType[*syncError](err); ok {
		reason = se.reason
	}
	m.metrics.syncErrors.WithLabelValues(reason).Inc()
	msg := err.Error()
	m.lastErr.Store(&msg)
	return err
}

func (m *Mirror) setSynced(t time.Time) {
	m.lastSync.Store(t.UnixNano())
	m.metrics.synced(t)
}

// syncAge is the seconds since the last successful sync, -1 before any.
func (m *Mirror) syncAge() float64 {
	ns := m.lastSync.Load()
	if ns == 0 {
		return -1
	}
	return time.Since(time.Unix(0, ns)).Seconds()
}

// Close unloads every model once its calls have ended.
func (m *Mirror) Close() error {
	m.mu.Lock()
	models := m.models
	m.models = map[string]*entry{}
	m.mu.Unlock()
	var errs []error
	for _, e := range models {
		errs = append(errs, e.holder.Close())
	}
	return errors.Join(errs...)
}

// syncError is a failed sync and its reason, the label of lambda_edge_sync_errors_total.
type syncError struct {
	reason string
	err    error
}

func (e *syncError) Error() string { return e.err.Error() }
func (e *syncError) Unwrap() error { return e.err }

// toVersion is the registry's form of a manifest's version.
func toVersion(v api.ModelVersion) registry.Version {
	out := registry.Version{
		Model: v.Name, Version: v.Version, Features: v.FeatureNames, InputWidth: v.InputWidth,
		Status: registry.Active, CreatedAt: v.CreatedAt,
	}
	for _, f := range v.Files {
		out.Artifacts = append(out.Artifacts, registry.Artifact{Variant: registry.Variant(f.Variant), SHA256: f.Sha256, Size: f.SizeBytes, CreatedAt: v.CreatedAt})
	}
	return out
}
