package registry_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
)

func TestRegisterAndRead(t *testing.T) {
	reg := newRegistry(t)
	ctx := t.Context()
	files := []registry.File{fp32(t, 1), fp32(t, 2)}
	for i, f := range files {
		v, err := reg.Register(ctx, "churn", featureNames(width), f)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(f.ONNX)
		a, ok := v.Artifact(registry.FP32)
		if v.Version != int64(i+1) || v.Status != registry.Registered || v.InputWidth != width || !ok ||
			a.SHA256 != hex.EncodeToString(sum[:]) || a.Size != int64(len(f.ONNX)) || v.CreatedAt.IsZero() {
			t.Fatalf("registration %d: %+v", i, v)
		}
	}
	if _, err := reg.Register(ctx, "fraud", featureNames(width), fp32(t, 3)); err != nil {
		t.Fatal(err)
	}

	models, err := reg.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 2 || models[0].Name != "churn" || models[0].LatestVersion != 2 || models[0].ActiveVersion != 0 || models[1].Name != "fraud" {
		t.Fatalf("models %+v", models)
	}
	vs, err := reg.Versions(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 || !slices.Equal(vs[1].Features, featureNames(width)) || len(vs[1].Artifacts) != 1 {
		t.Fatalf("versions %+v", vs)
	}
	got, a, err := reg.ONNX(ctx, "churn", 2, registry.FP32)
	if err != nil || !bytes.Equal(got, files[1].ONNX) || a != vs[1].Artifacts[0] {
		t.Fatalf("ONNX(churn, 2) = %d bytes, %+v, %v; want version 2's file", len(got), a, err)
	}

	for name, err := range map[string]error{
		"versions of a missing model": second(reg.Versions(ctx, "nope")),
		"missing version":             second(reg.Version(ctx, "churn", 3)),
		"missing variant":             third(reg.ONNX(ctx, "churn", 1, registry.INT8)),
		"active of a missing model":   second(reg.Active(ctx, "nope")),
	} {
		if !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if _, err := reg.Active(ctx, "churn"); !errors.Is(err, registry.ErrNoActive) {
		t.Errorf("Active before any activation: %v, want ErrNoActive", err)
	}
}

func TestRegisterRejects(t *testing.T) {
	reg := newRegistry(t)
	good := fp32(t, 1)
	int8 := registry.File{Variant: registry.INT8, ONNX: good.ONNX}
	for name, c := range map[string]struct {
		model    string
		features []string
		files    []registry.File
		want     error
	}{
		"width 6 for 5 names": {"m", featureNames(width - 1), []registry.File{good}, registry.ErrFeatureMismatch},
		"int8 width mismatch": {"m", featureNames(width), []registry.File{good, {Variant: registry.INT8, ONNX: ortenv.ONNX(t, lr(2, width+1))}}, registry.ErrFeatureMismatch},
		"repeated feature":    {"m", []string{"a", "b", "c", "d", "e", "a"}, []registry.File{good}, registry.ErrFeatureMismatch},
		"no features":         {"m", nil, []registry.File{good}, registry.ErrFeatureMismatch},
		"not onnx":            {"m", featureNames(width), []registry.File{{Variant: registry.FP32, ONNX: []byte("hello")}}, inference.ErrInvalidModel},
		"int8 without fp32":   {"m", featureNames(width), []registry.File{int8}, registry.ErrInvalidVariant},
		"two fp32 files":      {"m", featureNames(width), []registry.File{good, good}, registry.ErrInvalidVariant},
		"unknown variant":     {"m", featureNames(width), []registry.File{good, {Variant: "fp16", ONNX: good.ONNX}}, registry.ErrInvalidVariant},
		"empty name":          {"", featureNames(width), []registry.File{good}, registry.ErrInvalidName},
		"name with a slash":   {"a/b", featureNames(width), []registry.File{good}, registry.ErrInvalidName},
	} {
		if _, err := reg.Register(t.Context(), c.model, c.features, c.files...); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if models, err := reg.Models(t.Context()); err != nil || len(models) != 0 {
		t.Errorf("after rejected registrations: models %+v, %v; want none", models, err)
	}
}

func TestAddArtifact(t *testing.T) {
	reg := newRegistry(t)
	ctx := t.Context()
	if _, err := reg.Register(ctx, "m", featureNames(width), fp32(t, 1)); err != nil {
		t.Fatal(err)
	}
	int8 := registry.File{Variant: registry.INT8, ONNX: ortenv.ONNX(t, lr(9, width))}
	if _, err := reg.AddArtifact(ctx, "m", 1, int8); err != nil {
		t.Fatal(err)
	}
	v, err := reg.Version(ctx, "m", 1)
	if err != nil || len(v.Artifacts) != 2 || v.Artifacts[0].Variant != registry.FP32 || v.Artifacts[1].Variant != registry.INT8 {
		t.Fatalf("version after AddArtifact: %+v, %v", v, err)
	}
	for name, c := range map[string]struct {
		version int64
		file    registry.File
		want    error
	}{
		"again":           {1, int8, registry.ErrExists},
		"missing version": {2, int8, registry.ErrNotFound},
		"wrong width":     {1, registry.File{Variant: registry.INT8, ONNX: ortenv.ONNX(t, lr(9, width+2))}, registry.ErrFeatureMismatch},
	} {
		if _, err := reg.AddArtifact(ctx, "m", c.version, c.file); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestConcurrentRegister(t *testing.T) {
	reg := newRegistry(t)
	const n = 8
	versions := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := reg.Register(t.Context(), "m", featureNames(width), fp32(t, uint64(i)))
			if err != nil {
				t.Error(err)
			}
			versions[i] = v.Version
		})
	}
	wg.Wait()
	slices.Sort(versions)
	if want := []int64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(versions, want) {
		t.Errorf("versions %v, want %v", versions, want)
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }
