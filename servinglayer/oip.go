package servinglayer

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// Open Inference Protocol constants.
const (
	oipPlatform = "onnxruntime_onnx"
	oipFP32     = "FP32"
)

func (h handlers) OipServerMetadata(context.Context, api.OipServerMetadataRequestObject) (api.OipServerMetadataResponseObject, error) {
	return api.OipServerMetadata200JSONResponse{Name: "lambda", Version: h.cfg.Version, Extensions: []string{}}, nil
}

func (h handlers) OipLive(context.Context, api.OipLiveRequestObject) (api.OipLiveResponseObject, error) {
	return api.OipLive200JSONResponse{Live: true}, nil
}

func (h handlers) OipReady(ctx context.Context, _ api.OipReadyRequestObject) (api.OipReadyResponseObject, error) {
	if len(h.failing(ctx)) > 0 {
		return api.OipReady503JSONResponse{Ready: false}, nil
	}
	return api.OipReady200JSONResponse{Ready: true}, nil
}

func (h handlers) OipModelMetadata(ctx context.Context, req api.OipModelMetadataRequestObject) (api.OipModelMetadataResponseObject, error) {
	md, err := h.modelMetadata(ctx, req.Name, 0)
	if err != nil {
		return nil, err
	}
	return api.OipModelMetadata200JSONResponse{OIPModelMetadataJSONResponse: md}, nil
}

func (h handlers) OipModelVersionMetadata(ctx context.Context, req api.OipModelVersionMetadataRequestObject) (api.OipModelVersionMetadataResponseObject, error) {
	md, err := h.modelMetadata(ctx, req.Name, oipVersion(req.Version))
	if err != nil {
		return nil, err
	}
	return api.OipModelVersionMetadata200JSONResponse{OIPModelMetadataJSONResponse: md}, nil
}

// modelMetadata describes the model name at version (0: the active version).
func (h handlers) modelMetadata(ctx context.Context, name string, version int64) (api.OIPModelMetadataJSONResponse, error) {
	if h.deps.Models == nil || h.deps.Scorers == nil {
		return api.OIPModelMetadataJSONResponse{}, fmt.Errorf("models: %w", errNotConfigured)
	}
	versions, err := h.deps.Models.Versions(ctx, name)
	if err != nil {
		return api.OIPModelMetadataJSONResponse{}, err
	}
	i := len(versions) - 1
	for ; i >= 0; i-- {
		if v := versions[i]; version == v.Version || version == 0 && v.Status == registry.Active {
			break
		}
	}
	if i < 0 {
		if version == 0 {
			return api.OIPModelMetadataJSONResponse{}, fmt.Errorf("model %s: %w", name, registry.ErrNoActive)
		}
		return api.OIPModelMetadataJSONResponse{}, fmt.Errorf("version %s@%d: %w", name, version, registry.ErrNotFound)
	}
	v := versions[i]
	sig, err := h.deps.Scorers.Signature(ctx, name, v.Version)
	if err != nil {
		return api.OIPModelMetadataJSONResponse{}, err
	}
	out := api.OIPModelMetadataJSONResponse{
		Name: name, Platform: oipPlatform, Versions: make([]string, len(versions)),
		Inputs:  []api.OIPTensorMetadata{{Name: sig.Input, Datatype: oipFP32, Shape: []int64{-1, int64(sig.Width)}}},
		Outputs: []api.OIPTensorMetadata{{Name: sig.Output, Datatype: oipFP32, Shape: []int64{-1}}},
	}
	for i, v := range versions {
		out.Versions[i] = strconv.FormatInt(v.Version, 10)
	}
	vs := strconv.FormatInt(v.Version, 10)
	out.Parameters = &struct {
		FeatureNames *[]string `json:"feature_names,omitempty"`
		Version      *string   `json:"version,omitempty"`
	}{FeatureNames: &v.Features, Version: &vs}
	return out, nil
}

func (h handlers) OipModelReady(ctx context.Context, req api.OipModelReadyRequestObject) (api.OipModelReadyResponseObject, error) {
	ready, err := h.modelReady(ctx, req.Name, 0)
	if err != nil {
		return nil, err
	}
	if !ready.Ready {
		return api.OipModelReady503JSONResponse(ready), nil
	}
	return api.OipModelReady200JSONResponse{OIPModelReadyJSONResponse: ready}, nil
}

func (h handlers) OipModelVersionReady(ctx context.Context, req api.OipModelVersionReadyRequestObject) (api.OipModelVersionReadyResponseObject, error) {
	ready, err := h.modelReady(ctx, req.Name, oipVersion(req.Version))
	if err != nil {
		return nil, err
	}
	if !ready.Ready {
		return api.OipModelVersionReady503JSONResponse(ready), nil
	}
	return api.OipModelVersionReady200JSONResponse{OIPModelReadyJSONResponse: ready}, nil
}

// modelReady loads the model name at version (0: the active version) if needed; an
// unknown model or version is an error, one that does not load is not ready.
func (h handlers) modelReady(ctx context.Context, name string, version int64) (api.OIPModelReadyJSONResponse, error) {
	if h.deps.Scorers == nil {
		return api.OIPModelReadyJSONResponse{}, fmt.Errorf("inference: %w", errNotConfigured)
	}
	out := api.OIPModelReadyJSONResponse{Name: name}
	err := h.deps.Scorers.Use(ctx, name, version, func(m *inference.Model) error {
		v := strconv.FormatInt(m.Meta().Version, 10)
		out.Version = &v
		return nil
	})
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return out, err
	case err != nil:
		msg := err.Error()
		out.Error = &msg
	default:
		out.Ready = true
	}
	return out, nil
}

func (h handlers) OipInfer(ctx context.Context, req api.OipInferRequestObject) (api.OipInferResponseObject, error) {
	out, err := h.infer(ctx, req.Name, 0, req.Body)
	if err != nil {
		return nil, err
	}
	return api.OipInfer200JSONResponse{OIPInferJSONResponse: out}, nil
}

func (h handlers) OipInferVersion(ctx context.Context, req api.OipInferVersionRequestObject) (api.OipInferVersionResponseObject, error) {
	out, err := h.infer(ctx, req.Name, oipVersion(req.Version), req.Body)
	if err != nil {
		return nil, err
	}
	return api.OipInferVersion200JSONResponse{OIPInferJSONResponse: out}, nil
}

// infer scores the request's one FP32 [N, F] input with the model name at version
// (0: the active version). It checks the request body's schema rules itself (the
// validator leaves this body to it, x-lambda-checked-by-handler), then the model's.
func (h handlers) infer(ctx context.Context, name string, version int64, req *api.OIPInferRequest) (api.OIPInferJSONResponse, error) {
	if len(req.Inputs) != 1 {
		return api.OIPInferJSONResponse{}, badRequest("inputs: %d inputs; the models served take exactly one", len(req.Inputs))
	}
	in := req.Inputs[0]
	switch {
	case in.Name == "":
		return api.OIPInferJSONResponse{}, badRequest("inputs[0].name: missing")
	case len(in.Shape) != 2:
		return api.OIPInferJSONResponse{}, badRequest("inputs[0].shape: %v; want [N, F], N rows of F features", in.Shape)
	case in.Datatype != oipFP32:
		return api.OIPInferJSONResponse{}, badRequest("inputs[0].datatype: %q; the models served take %s", in.Datatype, oipFP32)
	}
	rows, width := in.Shape[0], in.Shape[1]
	n := int64(len(in.Data))
	if rows < 1 || width < 1 || n%width != 0 || n/width != rows {
		return api.OIPInferJSONResponse{}, badRequest("inputs[0].data: %d values do not fill shape [%d, %d]", n, rows, width)
	}
	if h.deps.Scorers == nil {
		return api.OIPInferJSONResponse{}, fmt.Errorf("inference: %w", errNotConfigured)
	}
	out := api.OIPInferJSONResponse{ModelName: name, Id: req.Id}
	var sig inference.Signature
	err := h.deps.Scorers.Use(ctx, name, version, func(m *inference.Model) error {
		meta := m.Meta()
		var err error
		if sig, err = h.deps.Scorers.Signature(ctx, name, meta.Version); err != nil {
			return err
		}
		switch {
		case in.Name != sig.Input:
			return badRequest("inputs[0].name: model %s takes input %q, not %q", meta, sig.Input, in.Name)
		case int(width) != m.Width():
			return badRequest("inputs[0].shape: [%d, %d], but model %s takes %d features per row", rows, width, meta, m.Width())
		}
		if req.Outputs != nil {
			for i, o := range *req.Outputs {
				if o.Name != sig.Output {
					return badRequest("outputs[%d].name: model %s has output %q, not %q", i, meta, sig.Output, o.Name)
				}
			}
		}
		var scores []float32
		if rows == 1 { // the common case, on the model's shortest path
			score, err := m.ScoreOne(ctx, in.Data)
			if err != nil {
				return err
			}
			scores = []float32{score}
		} else if scores, err = m.ScoreFlat(ctx, in.Data, int(width)); err != nil {
			return err
		}
		v := strconv.FormatInt(meta.Version, 10)
		out.ModelVersion = &v
		out.Outputs = []api.OIPOutput{{Name: sig.Output, Datatype: oipFP32, Shape: []int64{rows}, Data: scores}}
		return nil
	})
	if err != nil {
		return api.OIPInferJSONResponse{}, err
	}
	h.metrics.inferRows.WithLabelValues(name).Add(float64(rows))
	return out, nil
}

// oipVersion parses a version the schema's pattern has checked (1 to 9 digits).
func oipVersion(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}
