package edgenode_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/edgenode"
)

func TestMain(m *testing.M) { ortenv.Main(m) }

// TestMirror syncs a Mirror with a real upstream (the serving layer over a registry in
// PostgreSQL), then restarts it from its directory with the upstream gone, intact and
// with a file changed on disk.
func TestMirror(t *testing.T) {
	ctx := t.Context()
	pool, _ := testenv.Postgres(t)
	reg := registry.New(pool, nil)
	fp32 := ortenv.ONNX(t, onnxmodel.LogisticRegression{W: []float32{1, -2}, B: 0.5})
	v, err := reg.Register(ctx, "clf", []string{"a", "b"}, registry.File{Variant: registry.FP32, ONNX: fp32})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Activate(ctx, "clf", v.Version); err != nil {
		t.Fatal(err)
	}
	srv, err := servinglayer.NewServer(servinglayer.Deps{Models: reg}, servinglayer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(srv.Handler())
	want := score(t, fp32)

	dir := t.TempDir()
	cfg := edgenode.Config{Upstream: upstream.URL, Dir: dir}
	m := newMirror(t, cfg)
	if err := m.Ready(ctx); err == nil || !strings.Contains(err.Error(), "never synced") {
		t.Fatalf("Ready before a sync = %v, want an error saying it never synced", err)
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	checkServes(t, m, v.Version, want)
	if _, a, err := m.ONNX(ctx, "clf", v.Version, registry.INT8); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("ONNX int8 of a version without one = %v, %v; want ErrNotFound", a, err)
	}
	if err := m.Activate(ctx, "clf", v.Version); !errors.Is(err, edgenode.ErrReadOnly) {
		t.Errorf("Activate on the node = %v, want ErrReadOnly", err)
	}
	if err := m.Sync(ctx); err != nil { // a 304 this time
		t.Fatalf("second Sync: %v", err)
	}

	upstream.Close()
	if err := m.Sync(ctx); err == nil {
		t.Fatal("Sync with the upstream gone succeeded")
	}
	checkServes(t, m, v.Version, want)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	restarted := newMirror(t, cfg)
	checkServes(t, restarted, v.Version, want)
	if d := restarted.Detail(); !strings.Contains(d, "clf@1") || !strings.Contains(d, "last sync") {
		t.Errorf("Detail after a restart = %q, want the version served and the last sync", d)
	}

	file := filepath.Join(dir, "clf", "v1", "fp32.onnx")
	onDisk, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	onDisk[len(onDisk)/2] ^= 0xff
	if err := os.WriteFile(file, onDisk, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := newMirror(t, cfg).Ready(ctx); err == nil {
		t.Fatal("a mirror whose file on disk was changed is ready")
	}
}

func TestConfigErrors(t *testing.T) {
	for name, cfg := range map[string]edgenode.Config{
		"no upstream":          {Dir: "d"},
		"not an http URL":      {Upstream: "ftp://central", Dir: "d"},
		"no dir":               {Upstream: "http://central"},
		"unknown variant":      {Upstream: "http://central", Dir: "d", Variants: []registry.Variant{"fp16"}},
		"scored, not mirrored": {Upstream: "http://central", Dir: "d", Variants: []registry.Variant{registry.FP32}, Score: registry.INT8},
		"a path as model name": {Upstream: "http://central", Dir: "d", Models: []string{"../etc"}},
	} {
		if _, err := edgenode.New(cfg, nil, prometheus.NewRegistry()); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func newMirror(t *testing.T, cfg edgenode.Config) *edgenode.Mirror {
	t.Helper()
	m, err := edgenode.New(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// score is what the model in onnx gives the row checkServes scores.
func score(t *testing.T, onnx []byte) float32 {
	m, err := inference.LoadModel(onnx, inference.Meta{Name: "direct"}, inference.Options{Sessions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.ScoreOne(context.Background(), []float32{0.5, 2})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func checkServes(t *testing.T, m *edgenode.Mirror, version int64, want float32) {
	t.Helper()
	ctx := t.Context()
	if err := m.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	err := m.Use(ctx, "clf", 0, func(model *inference.Model) error {
		got, err := model.ScoreOne(ctx, []float32{0.5, 2})
		if err == nil && (got != want || model.Meta().Version != version) {
			t.Errorf("the node scored %v with %s, want %v with version %d", got, model.Meta(), want, version)
		}
		return err
	})
	if err != nil {
		t.Fatalf("Use: %v", err)
	}
	if _, err := m.Signature(ctx, "clf", version); err != nil {
		t.Errorf("Signature: %v", err)
	}
	if err := m.Use(ctx, "clf", version+1, func(*inference.Model) error { return nil }); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Use of a version the node does not serve = %v, want ErrNotFound", err)
	}
}
