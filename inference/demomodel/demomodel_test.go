package demomodel_test

import (
	"errors"
	"log/slog"
	"math"
	"slices"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/demomodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/testenv"
)

func TestMain(m *testing.M) { ortenv.Main(m) }

// TestTrainedModelServes trains an MLP on demo data, registers it with its int8 variant,
// activates it, and scores the holdout through holders that watchers keep on each variant.
func TestTrainedModelServes(t *testing.T) {
	ctx := t.Context()
	pool, _ := testenv.Postgres(t)
	reg := registry.New(pool, slog.New(slog.NewTextHandler(t.Output(), nil)))
	spec := features.DefaultSpec()
	opts := demomodel.Options{Name: "demo", Kind: train.MLP, Events: 100000, Entities: 1000, Seed: 4, Holdout: 0.2, Mode: quantize.Modes[0]}
	res, err := demomodel.Train(ctx, reg, spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	v := res.Version
	if _, ok := v.Artifact(registry.INT8); v.String() != "demo@1" || !ok || !slices.Equal(v.Features, spec.FeatureNames()) {
		t.Errorf("registered %+v, want demo@1 with both files and the spec's features", v)
	}
	if res.Rows == 0 || res.Fit.Train.Rows+res.Fit.Holdout.Rows != res.Rows || res.Fit.Config.Kind != train.MLP ||
		res.INT8.Rows != res.Rows {
		t.Errorf("result: %d rows, fit on %d + %d of kind %s, int8 compared on %d", res.Rows,
			res.Fit.Train.Rows, res.Fit.Holdout.Rows, res.Fit.Config.Kind, res.INT8.Rows)
	}
	// The same seed gives the same data: the holdout the model was evaluated on.
	d, err := train.Demo(spec, demogen.Config{Seed: opts.Seed, Entities: opts.Entities}, opts.Events)
	if err != nil {
		t.Fatal(err)
	}
	_, ho := d.Split(opts.Holdout)
	if ho.Len() != res.Fit.Holdout.Rows {
		t.Fatalf("holdout of %d rows, the fit's has %d", ho.Len(), res.Fit.Holdout.Rows)
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
			worst = max(worst, math.Abs(float64(s-res.Fit.Model.Predict(ho.Row(i)))))
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

// TestTrainFails checks that a failing step registers nothing.
func TestTrainFails(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	reg := registry.New(pool, nil)
	opts := demomodel.Options{Name: "bad", Kind: "forest", Events: 20000, Entities: 100, Seed: 1, Holdout: 0.2, Mode: quantize.Modes[0]}
	if _, err := demomodel.Train(t.Context(), reg, features.DefaultSpec(), opts); !errors.Is(err, train.ErrUnknownKind) {
		t.Errorf("unknown kind: %v, want ErrUnknownKind", err)
	}
	opts.Kind, opts.Mode = train.LogisticRegression, "int4"
	if _, err := demomodel.Train(t.Context(), reg, features.DefaultSpec(), opts); !errors.Is(err, quantize.ErrUnknownMode) {
		t.Errorf("unknown quantization mode: %v, want ErrUnknownMode", err)
	}
	if _, err := reg.Versions(t.Context(), "bad"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("versions after failed trainings: %v, want ErrNotFound", err)
	}
}
