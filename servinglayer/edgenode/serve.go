package edgenode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
)

// ErrReadOnly: the node's models change only by syncing with the upstream.
var ErrReadOnly = errors.New("an edge node's models are read-only: register and activate versions upstream")

// The methods below make the Mirror the serving layer's model registry and scorers.

// Models lists the mirrored models, each with its one version active.
func (m *Mirror) Models(context.Context) ([]registry.Model, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]registry.Model, 0, len(m.models))
	for name, e := range m.models {
		v := e.version.Version
		out = append(out, registry.Model{Name: name, CreatedAt: e.version.CreatedAt, ActiveVersion: v, LatestVersion: v})
	}
	slices.SortFunc(out, func(a, b registry.Model) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Versions returns the one version of the model the node serves.
func (m *Mirror) Versions(_ context.Context, name string) ([]registry.Version, error) {
	e, err := m.entry(name)
	if err != nil {
		return nil, err
	}
	return []registry.Version{e.version}, nil
}

// Version returns the model's version if it is the one the node serves.
func (m *Mirror) Version(_ context.Context, name string, version int64) (registry.Version, error) {
	e, err := m.entry(name)
	if err != nil {
		return registry.Version{}, err
	}
	if version != e.version.Version {
		return registry.Version{}, fmt.Errorf("version %s@%d: this edge node serves only %s: %w", name, version, e.version, registry.ErrNotFound)
	}
	return e.version, nil
}

// ONNX returns a file of the version served.
func (m *Mirror) ONNX(ctx context.Context, name string, version int64, variant registry.Variant) ([]byte, registry.Artifact, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.models[name]
	if e == nil || e.version.Version != version {
		return nil, registry.Artifact{}, fmt.Errorf("version %s@%d: %w", name, version, registry.ErrNotFound)
	}
	a, ok := e.version.Artifact(variant)
	if !ok {
		return nil, registry.Artifact{}, fmt.Errorf("%s file of %s: %w", variant, e.version, registry.ErrNotFound)
	}
	return e.files[variant], a, nil
}

// Register refuses: see ErrReadOnly.
func (m *Mirror) Register(context.Context, string, []string, ...registry.File) (registry.Version, error) {
	return registry.Version{}, ErrReadOnly
}

// Activate refuses: see ErrReadOnly.
func (m *Mirror) Activate(context.Context, string, int64) error { return ErrReadOnly }

// Rollback refuses: see ErrReadOnly.
func (m *Mirror) Rollback(context.Context, string) (int64, error) { return 0, ErrReadOnly }

// Use calls fn with the model's version served (version 0 or its number).
func (m *Mirror) Use(_ context.Context, name string, version int64, fn func(*inference.Model) error) error {
	e, err := m.entry(name)
	if err != nil {
		return err
	}
	if version != 0 && version != e.version.Version {
		return fmt.Errorf("version %s@%d: this edge node serves only %s: %w", name, version, e.version, registry.ErrNotFound)
	}
	return e.holder.Use(fn)
}

// Signature returns the inputs and outputs of the model's version served (or of the
// one it replaced, for the calls still scoring with it).
func (m *Mirror) Signature(_ context.Context, name string, version int64) (inference.Signature, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e := m.models[name]; e != nil {
		if sig, ok := e.sigs[version]; ok {
			return sig, nil
		}
	}
	return inference.Signature{}, fmt.Errorf("version %s@%d: %w", name, version, registry.ErrNotFound)
}

func (m *Mirror) entry(name string) (entry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := m.models[name]
	if e == nil {
		return entry{}, fmt.Errorf("model %s: this edge node has no verified copy of it: %w", name, registry.ErrNotFound)
	}
	return *e, nil
}

// Ready reports why the node cannot score yet: no verified copy of a model it mirrors.
func (m *Mirror) Ready(context.Context) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var missing []string
	for _, name := range m.cfg.Models {
		if m.models[name] == nil {
			missing = append(missing, name)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("no verified copy of %s yet: %s", strings.Join(missing, ", "), m.syncState())
	case len(m.models) == 0:
		return fmt.Errorf("no verified model yet: %s", m.syncState())
	}
	return nil
}

// Detail describes what the node serves and how fresh it is, for /readyz.
func (m *Mirror) Detail() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	served := make([]string, 0, len(m.models))
	for _, e := range m.models {
		served = append(served, e.version.String())
	}
	slices.Sort(served)
	what := "nothing"
	if len(served) > 0 {
		what = strings.Join(served, ", ") + " (" + string(m.cfg.Score) + ")"
	}
	return "serving " + what + "; " + m.syncState()
}

// syncState tells the age of the last sync with the upstream and the last error.
func (m *Mirror) syncState() string {
	s := "never synced with " + m.cfg.Upstream
	if age := m.syncAge(); age >= 0 {
		s = fmt.Sprintf("last sync with %s %s ago", m.cfg.Upstream, (time.Duration(age * float64(time.Second))).Round(time.Millisecond))
	}
	if err := m.lastErr.Load(); err != nil {
		s += "; last error: " + *err
	}
	return s
}
