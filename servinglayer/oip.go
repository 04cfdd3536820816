package servinglayer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/servinglayer/api"
	"github.com/lambda-platform/lambda/servinglayer/oip"
)

// Open Inference Protocol constants.
const (
	oipPlatform = "onnxruntime_onnx"
	oipFP32     = "FP32"
)

func (h handlers) OipServerMetadata(context.Context, api.OipServerMetadataRequestObject) (api.OipServerMetadataResponseObject, error) {
	return api.OipServerMetadata200JSONResponse{Name: "lambda", Version: h.cfg.Version, Extensions: []string{oip.Extension}}, nil
}

func (h handlers) OipLive(context.Context, api.OipLiveRequestObject) (api.OipLiveResponseObject, error) {
	return api.OipLive200JSONResponse{Live: true}, nil
}

// OipReady is KServe's server readiness: every model with an active version is loaded
// and scores. The platform's dependencies are /readyz's.
func (h handlers) OipReady(ctx context.Context, _ api.OipReadyRequestObject) (api.OipReadyResponseObject, error) {
	if err := h.modelsReady(ctx); err != nil {
		h.log.Debug("models not ready", "err", err)
		return api.OipReady503JSONResponse{Ready: false}, nil
	}
	return api.OipReady200JSONResponse{Ready: true}, nil
}

// modelsReady loads the active version of every model if needed; the first that does
// not load is the error.
func (h handlers) modelsReady(ctx context.Context) error {
	if h.deps.Models == nil || h.deps.Scorers == nil {
		return fmt.Errorf("models: %w", errNotConfigured)
	}
	models, err := h.deps.Models.Models(ctx)
	if err != nil {
		return err
	}
	for _, m := range models {
		if m.ActiveVersion == 0 {
			continue
		}
		if err := h.deps.Scorers.Use(ctx, m.Name, 0, func(*inference.Model) error { return nil }); err != nil {
			return fmt.Errorf("model %s: %w", m.Name, err)
		}
	}
	return nil
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
	return h.infer(ctx, req.Name, 0, req.Body)
}

func (h handlers) OipInferVersion(ctx context.Context, req api.OipInferVersionRequestObject) (api.OipInferVersionResponseObject, error) {
	return h.infer(ctx, req.Name, oipVersion(req.Version), req.Body)
}

// infer scores the request's one [N, F] input with the model name at version (0: the
// active version). It checks the request body's schema rules itself (the validator
// leaves this body to it, x-lambda-checked-by-handler), then the model's. The input's
// values, of any numeric datatype, are converted to the models' FP32.
func (h handlers) infer(ctx context.Context, name string, version int64, req *api.OIPInferRequest) (inferResponse, error) {
	if len(req.Inputs) != 1 {
		return inferResponse{}, badRequest("inputs: %d inputs; the models served take exactly one", len(req.Inputs))
	}
	in := req.Inputs[0]
	if in.Name == "" {
		return inferResponse{}, badRequest("inputs[0].name: missing")
	}
	values, err := oip.Tensor("inputs[0]", in)
	if err != nil {
		return inferResponse{}, err
	}
	rows, width := in.Shape[0], in.Shape[1]
	if h.deps.Scorers == nil {
		return inferResponse{}, fmt.Errorf("inference: %w", errNotConfigured)
	}
	out := inferResponse{OIPInferResponse: api.OIPInferResponse{ModelName: name, Id: req.Id}}
	binary := req.Parameters != nil && req.Parameters.BinaryDataOutput != nil && *req.Parameters.BinaryDataOutput
	err = h.deps.Scorers.Use(ctx, name, version, func(m *inference.Model) error {
		meta := m.Meta()
		sig, err := h.deps.Scorers.Signature(ctx, name, meta.Version)
		if err != nil {
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
				if o.Parameters != nil && o.Parameters.BinaryData != nil {
					binary = *o.Parameters.BinaryData
				}
			}
		}
		var scores []float32
		h.metrics.inferCPU.WithLabelValues(name).Add(h.metrics.inferMeter.Run(func() { scores, err = score(ctx, m, values, rows, width) }))
		if err != nil {
			return err
		}
		v := strconv.FormatInt(meta.Version, 10)
		out.ModelVersion = &v
		out.Outputs = []api.OIPOutput{{Name: sig.Output, Datatype: oipFP32, Shape: []int64{rows}, Data: scores}}
		return nil
	})
	if err != nil {
		return inferResponse{}, err
	}
	if binary {
		out.binary = oip.AppendFP32(nil, out.Outputs[0].Data)
		size := int64(len(out.binary))
		out.Outputs[0].Data = nil
		out.Outputs[0].Parameters = &struct {
			BinaryDataSize *int64 `json:"binary_data_size,omitempty"`
		}{&size}
	}
	h.metrics.inferRows.WithLabelValues(name).Add(float64(rows))
	return out, nil
}

// score scores rows × width values: none, one on the model's shortest path, or a batch.
func score(ctx context.Context, m *inference.Model, values []float32, rows, width int64) ([]float32, error) {
	switch rows {
	case 0:
		return []float32{}, nil
	case 1:
		s, err := m.ScoreOne(ctx, values)
		if err != nil {
			return nil, err
		}
		return []float32{s}, nil
	}
	return m.ScoreFlat(ctx, values, int(width))
}

// inferResponse is an infer answer: all JSON, or with the binary tensor data extension
// the JSON header, its length in Inference-Header-Content-Length, and the outputs'
// little-endian bytes after it.
type inferResponse struct {
	api.OIPInferResponse
	binary []byte // the outputs' binary section; nil for an all-JSON answer
}

func (r inferResponse) VisitOipInferResponse(w http.ResponseWriter) error {
	if r.binary == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return json.NewEncoder(w).Encode(r.OIPInferResponse)
	}
	header, err := json.Marshal(r.OIPInferResponse)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(oip.HeaderLength, strconv.Itoa(len(header)))
	w.Header().Set("Content-Length", strconv.Itoa(len(header)+len(r.binary)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(header); err != nil {
		return err
	}
	_, err = w.Write(r.binary)
	return err
}

func (r inferResponse) VisitOipInferVersionResponse(w http.ResponseWriter) error {
	return r.VisitOipInferResponse(w)
}

// oipVersion parses a version the schema's pattern has checked (1 to 9 digits).
func oipVersion(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}
