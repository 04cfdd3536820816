package registry_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
)

// TestLoad loads each file of a registered version on the real ONNX Runtime: the model
// carries the version's metadata and scores as the file's model does.
func TestLoad(t *testing.T) {
	reg := newRegistry(t)
	ctx := t.Context()
	fp32Model, int8Model := lr(1, width), lr(2, width) // any model the scorer loads will do as the int8 file
	v, err := reg.Register(ctx, "m", featureNames(width),
		registry.File{Variant: registry.FP32, ONNX: ortenv.ONNX(t, fp32Model)},
		registry.File{Variant: registry.INT8, ONNX: ortenv.ONNX(t, int8Model)})
	if err != nil {
		t.Fatal(err)
	}
	row := []float32{0.5, -1, 2, 0, 1, -0.25}
	for variant, want := range map[registry.Variant]float32{registry.FP32: fp32Model.Predict(row), registry.INT8: int8Model.Predict(row)} {
		m, err := reg.Load(ctx, v, variant, inference.Options{Sessions: 1})
		if err != nil {
			t.Fatalf("%s: %v", variant, err)
		}
		defer m.Close()
		if meta := m.Meta(); meta.Name != "m" || meta.Version != v.Version || !slices.Equal(meta.Features, featureNames(width)) {
			t.Errorf("%s: loaded %+v, want m@%d with the version's features", variant, meta, v.Version)
		}
		got, err := m.ScoreOne(ctx, row)
		if err != nil || math.Abs(float64(got-want)) > 1e-6 {
			t.Errorf("%s: score %v, %v; want %v", variant, got, err, want)
		}
	}

	fp32Only, err := reg.Register(ctx, "m", featureNames(width), fp32(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		v       registry.Version
		variant registry.Variant
	}{
		"missing variant": {fp32Only, registry.INT8},
		"missing version": {registry.Version{Model: "m", Version: 9}, registry.FP32},
		"missing model":   {registry.Version{Model: "nope", Version: 1}, registry.FP32},
	} {
		if _, err := reg.Load(ctx, c.v, c.variant, inference.Options{}); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	wrongWidth := v
	wrongWidth.Features = featureNames(width + 1)
	if _, err := reg.Load(ctx, wrongWidth, registry.FP32, inference.Options{}); !errors.Is(err, inference.ErrInputWidth) {
		t.Errorf("metadata of another width: %v, want ErrInputWidth", err)
	}
}
