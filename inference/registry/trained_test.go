package registry_test

import (
	"math"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
)

// TestTrainedModelServes trains an MLP on demo data, registers it with its int8 variant,
// activates it, and scores the holdout through holders that watchers keep on each variant.
func TestTrainedModelServes(t *testing.T) {
	ctx := t.Context()
	d, err := train.Demo(features.DefaultSpec(), demogen.Config{Seed: 4, Entities: 1000}, 100000)
	if err != nil {
		t.Fatal(err)
	}
	tr, ho := d.Split(0.2)
	res, err := train.Fit(ctx, tr, ho, train.Config{Kind: train.MLP, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	fp32, err := res.ONNX()
	if err != nil {
		t.Fatal(err)
	}
	int8, err := quantize.Quantize(fp32, quantize.Modes[0])
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	v, err := reg.Register(ctx, "demo", res.Features,
		registry.File{Variant: registry.FP32, ONNX: fp32}, registry.File{Variant: registry.INT8, ONNX: int8})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Activate(ctx, "demo", v.Version); err != nil {
		t.Fatal(err)
	}

	for variant, tol := range map[registry.Variant]float64{registry.FP32: 1e-5, registry.INT8: 0.02} {
		holder := inference.NewHolder(nil)
		defer holder.Close()
		if _, err := registry.NewWatcher(reg, "demo", holder, registry.WatcherOptions{Variant: variant}).Sync(ctx); err != nil {
			t.Fatal(err)
		}
		scores, err := holder.ScoreFlat(ctx, ho.X, ho.Width())
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i, s := range scores {
			worst = max(worst, math.Abs(float64(s-res.Model.Predict(ho.Row(i)))))
		}
		t.Logf("%s: %d holdout rows, max |Δ| against the trained model %.2g", variant, len(scores), worst)
		if worst > tol {
			t.Errorf("%s: max |Δ| %g over %g", variant, worst, tol)
		}
		if meta, _ := holder.Meta(); meta.Name != "demo" || meta.Version != v.Version || len(meta.Features) != d.Width() {
			t.Errorf("%s: holder serves %+v", variant, meta)
		}
	}
}
