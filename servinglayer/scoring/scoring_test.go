package scoring_test

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/servinglayer/scoring"
)

func TestMain(m *testing.M) { ortenv.Main(m) }

func TestSet(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	reg := registry.New(pool, nil)
	models := []onnxmodel.LogisticRegression{{W: []float32{1, 0}, B: 0}, {W: []float32{0, 1}, B: 0}, {W: []float32{-1, 0}, B: 1}}
	for _, lr := range models {
		m, err := lr.Model()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Register(ctx, "m", []string{"a", "b"}, registry.File{Variant: registry.FP32, ONNX: m.Marshal()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Register(ctx, "idle", []string{"a", "b"}, registry.File{Variant: registry.FP32, ONNX: ortenv.ONNX(t, models[0])}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Activate(ctx, "m", 3); err != nil {
		t.Fatal(err)
	}
	set := scoring.New(reg, scoring.Options{Versions: 1})
	row := []float32{0.5, 2}
	score := func(version int64) (int64, float32) {
		t.Helper()
		var (
			got  []float32
			used int64
		)
		err := set.Use(ctx, "m", version, func(m *inference.Model) error {
			used = m.Meta().Version
			var err error
			got, err = m.ScoreFlat(ctx, row, 2)
			return err
		})
		if err != nil {
			t.Fatalf("version %d: %v", version, err)
		}
		return used, got[0]
	}
	// The active version, then each version by number through a cache of one model.
	for _, version := range []int64{0, 1, 2, 1, 3, 0} {
		want := version
		if want == 0 {
			want = 3
		}
		used, got := score(version)
		if used != int64(want) || math.Abs(float64(got-models[want-1].Predict(row))) > 1e-6 {
			t.Errorf("version %d: scored %v with version %d; want %v with %d", version, got, used, models[want-1].Predict(row), want)
		}
	}

	sig, err := set.Signature(ctx, "m", 2)
	if err != nil || sig.Input != onnxmodel.InputName || sig.Output != onnxmodel.OutputName || sig.Width != 2 {
		t.Errorf("Signature = %+v, %v", sig, err)
	}
	if err := set.Loaded(ctx, "m"); err != nil {
		t.Errorf("Loaded: %v", err)
	}
	for _, tc := range []struct {
		name    string
		version int64
		want    error
	}{{"nope", 0, registry.ErrNotFound}, {"m", 9, registry.ErrNotFound}, {"idle", 0, registry.ErrNoActive}} {
		if err := set.Use(ctx, tc.name, tc.version, func(*inference.Model) error { return nil }); !errors.Is(err, tc.want) {
			t.Errorf("%s@%d: %v, want %v", tc.name, tc.version, err, tc.want)
		}
	}
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	if err := set.Use(ctx, "m", 0, func(*inference.Model) error { return nil }); !errors.Is(err, inference.ErrModelClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestConcurrentFirstUse(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	reg := registry.New(pool, nil)
	if _, err := reg.Register(ctx, "m", []string{"a", "b"}, registry.File{Variant: registry.FP32, ONNX: ortenv.ONNX(t, onnxmodel.LogisticRegression{W: []float32{1, 1}})}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Activate(ctx, "m", 1); err != nil {
		t.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	set := scoring.New(reg, scoring.Options{Registerer: metrics})
	defer set.Close()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := set.Use(ctx, "m", 0, func(*inference.Model) error { return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	families, err := metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "lambda_inference_model_swaps_total" {
			if n := f.GetMetric()[0].GetCounter().GetValue(); n != 1 {
				t.Errorf("the model was loaded %v times by concurrent first requests, want once", n)
			}
			return
		}
	}
	t.Error("no swap counted")
}
