package registry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestWatcherSwapsUnderLoad activates and rolls back versions while goroutines score
// without pause: every call must succeed with the scores of the version that served it.
// The watcher polls once a minute, so the swaps within seconds come from notifications.
func TestWatcherSwapsUnderLoad(t *testing.T) {
	reg := newRegistry(t)
	ctx := t.Context()
	mlp := onnxmodel.MLP{W1: make([]float32, width*4), B1: []float32{0.1, -0.2, 0.3, 0}, W2: []float32{1, -1, 0.5, 2}, B2: -0.3}
	for i := range mlp.W1 {
		mlp.W1[i] = float32(i%7) / 7
	}
	predict := map[int64]func([]float32) float32{}
	for i, m := range []interface {
		Model() (*onnxmodel.Model, error)
		Predict([]float32) float32
	}{lr(1, width), lr(2, width), mlp} {
		v, err := reg.Register(ctx, "m", featureNames(width), registry.File{Variant: registry.FP32, ONNX: ortenv.ONNX(t, m)})
		if err != nil {
			t.Fatal(err)
		}
		predict[v.Version] = m.Predict
		if v.Version != int64(i+1) {
			t.Fatalf("version %d, want %d", v.Version, i+1)
		}
	}
	if err := reg.Activate(ctx, "m", 1); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	holder := inference.NewHolder(log)
	defer holder.Close()
	promReg := prometheus.NewRegistry()
	metrics := registry.NewMetrics(promReg)
	w := registry.NewWatcher(reg, "m", holder, registry.WatcherOptions{
		Poll: time.Minute, Model: inference.Options{Sessions: 2}, Metrics: metrics, Logger: log,
	})
	wctx, stopWatcher := context.WithCancel(ctx)
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		w.Run(wctx)
	}()
	waitFor(t, holder, 1)

	rows := make([][]float32, 64)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range rows {
		rows[i] = make([]float32, width)
		for j := range rows[i] {
			rows[i][j] = float32(r.NormFloat64())
		}
	}
	var calls [4]atomic.Int64 // by version
	var failures atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	for range 4 {
		load.Go(func() {
			for loadCtx.Err() == nil {
				err := holder.Use(func(m *inference.Model) error {
					scores, err := m.Score(loadCtx, rows)
					if err != nil {
						return err
					}
					v := m.Meta().Version
					for i, row := range rows {
						if want := predict[v](row); math.Abs(float64(scores[i]-want)) > 1e-5 {
							return errors.New("score of another version")
						}
					}
					calls[v].Add(1)
					return nil
				})
				if err != nil && loadCtx.Err() == nil {
					failures.Add(1)
					t.Errorf("score: %v", err)
				}
			}
		})
	}

	scoreSome := func(v int64) { // until the load has run on version v for a while
		t.Helper()
		for start := calls[v].Load(); calls[v].Load() < start+50; {
			time.Sleep(time.Millisecond)
		}
	}
	scoreSome(1)
	steps := []struct {
		change func() error
		want   int64
	}{
		{func() error { return reg.Activate(ctx, "m", 2) }, 2},
		{func() error { return reg.Activate(ctx, "m", 3) }, 3},
		{func() error { _, err := reg.Rollback(ctx, "m"); return err }, 2},
		{func() error { _, err := reg.Rollback(ctx, "m"); return err }, 1},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, holder, s.want)
		scoreSome(s.want)
	}
	stopLoad()
	load.Wait()
	stopWatcher()
	<-watcherDone

	t.Logf("calls per version %d/%d/%d, failures %d", calls[1].Load(), calls[2].Load(), calls[3].Load(), failures.Load())
	if failures.Load() != 0 {
		t.Errorf("%d failed calls, want none", failures.Load())
	}
	if swaps, loaded := metricValue(t, promReg, "lambda_inference_model_swaps_total"), metricValue(t, promReg, "lambda_inference_model_loaded_version"); swaps != 5 || loaded != 1 {
		t.Errorf("metrics: %v swaps, loaded version %v; want 5 and 1", swaps, loaded)
	}
}

// TestWatcherSync checks the variant choice and that an unchanged version is not reloaded.
func TestWatcherSync(t *testing.T) {
	reg := newRegistry(t)
	ctx := t.Context()
	if _, err := reg.Register(ctx, "m", featureNames(width), fp32(t, 1)); err != nil {
		t.Fatal(err)
	}
	holder := inference.NewHolder(nil)
	defer holder.Close()
	w := registry.NewWatcher(reg, "m", holder, registry.WatcherOptions{Variant: registry.INT8})
	if _, err := w.Sync(ctx); !errors.Is(err, registry.ErrNoActive) {
		t.Fatalf("sync before activation: %v, want ErrNoActive", err)
	}
	if err := reg.Activate(ctx, "m", 1); err != nil {
		t.Fatal(err)
	}
	sync := func(want bool) {
		t.Helper()
		if swapped, err := w.Sync(ctx); err != nil || swapped != want {
			t.Fatalf("sync: swapped %v, %v; want %v", swapped, err, want)
		}
	}
	sync(true) // no int8 file yet: the fp32 one
	sync(false)
	if _, err := reg.AddArtifact(ctx, "m", 1, registry.File{Variant: registry.INT8, ONNX: ortenv.ONNX(t, lr(2, width))}); err != nil {
		t.Fatal(err)
	}
	sync(true) // the int8 file now exists
	sync(false)
	if meta, ok := holder.Meta(); !ok || meta.Version != 1 || len(meta.Features) != width {
		t.Errorf("holder serves %+v, want m@1 with %d features", meta, width)
	}
}

// waitFor waits until the holder serves version v.
func waitFor(t *testing.T, h *inference.Holder, v int64) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("the holder to serve version %d", v), func() error {
		if meta, ok := h.Meta(); !ok || meta.Version != v {
			return fmt.Errorf("it serves %s", meta)
		}
		return nil
	})
}

// metricValue returns the value of the metric name for model m: a counter or a gauge.
func metricValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "m" {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{model=\"m\"}", name)
	return 0
}
