package servinglayer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// immutable is the Cache-Control of model files: a version's file never changes.
const immutable = "public, max-age=31536000, immutable"

func (h handlers) ListModels(ctx context.Context, _ api.ListModelsRequestObject) (api.ListModelsResponseObject, error) {
	if h.deps.Models == nil {
		return nil, fmt.Errorf("model registry: %w", errNotConfigured)
	}
	models, err := h.deps.Models.Models(ctx)
	if err != nil {
		return nil, unavailable(err, "list models")
	}
	out := api.ModelList{Models: make([]api.ModelSummary, len(models))}
	for i, m := range models {
		out.Models[i] = api.ModelSummary{
			Name: m.Name, Description: m.Description, CreatedAt: m.CreatedAt,
			ActiveVersion: optVersion(m.ActiveVersion), LatestVersion: m.LatestVersion,
		}
	}
	return api.ListModels200JSONResponse(out), nil
}

func (h handlers) GetModel(ctx context.Context, req api.GetModelRequestObject) (api.GetModelResponseObject, error) {
	if h.deps.Models == nil {
		return nil, fmt.Errorf("model registry: %w", errNotConfigured)
	}
	models, err := h.deps.Models.Models(ctx)
	if err != nil {
		return nil, unavailable(err, "list models")
	}
	i := slices.IndexFunc(models, func(m registry.Model) bool { return m.Name == req.Name })
	if i < 0 {
		return nil, fmt.Errorf("model %s: %w", req.Name, registry.ErrNotFound)
	}
	versions, err := h.deps.Models.Versions(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	m := models[i]
	out := api.ModelManifest{
		Name: m.Name, Description: m.Description, CreatedAt: m.CreatedAt,
		ActiveVersion: optVersion(m.ActiveVersion), Versions: make([]api.ModelVersion, len(versions)),
	}
	for i, v := range versions {
		out.Versions[i] = modelVersion(v)
	}
	return api.GetModel200JSONResponse(out), nil
}

func (h handlers) GetModelFile(ctx context.Context, req api.GetModelFileRequestObject) (api.GetModelFileResponseObject, error) {
	if h.deps.Models == nil {
		return nil, fmt.Errorf("model registry: %w", errNotConfigured)
	}
	variant := registry.Variant(strings.TrimSuffix(string(req.File), ".onnx"))
	v, err := h.deps.Models.Version(ctx, req.Name, req.Version)
	if err != nil {
		return nil, err
	}
	a, ok := v.Artifact(variant)
	if !ok {
		return nil, fmt.Errorf("%s file of %s: %w", variant, v, registry.ErrNotFound)
	}
	f := modelFile{etag: `"` + a.SHA256 + `"`, modified: a.CreatedAt, params: req.Params,
		name: fmt.Sprintf("%s-v%d-%s.onnx", v.Model, v.Version, variant)}
	if req.Params.IfNoneMatch != nil && etagMatches(*req.Params.IfNoneMatch, a.SHA256) {
		return f, nil // 304 without reading the file
	}
	if f.onnx, _, err = h.deps.Models.ONNX(ctx, req.Name, req.Version, variant); err != nil {
		return nil, err
	}
	return f, nil
}

// modelFile answers a model file download with http.ServeContent, which handles
// If-None-Match (304) and Range (206, 416); onnx nil means the client's copy is current.
type modelFile struct {
	name     string
	etag     string
	modified time.Time
	onnx     []byte
	params   api.GetModelFileParams
}

func (f modelFile) VisitGetModelFileResponse(w http.ResponseWriter) error {
	h := w.Header()
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", immutable)
	if f.onnx == nil {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+f.name+`"`)
	// ServeContent reads only the method and the conditional and range headers.
	r := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	if f.params.IfNoneMatch != nil {
		r.Header.Set("If-None-Match", *f.params.IfNoneMatch)
	}
	if f.params.Range != nil {
		r.Header.Set("Range", *f.params.Range)
	}
	http.ServeContent(w, r, f.name, f.modified, bytes.NewReader(f.onnx))
	return nil
}

// etagMatches reports whether an If-None-Match header lists the entity tag of sha256
// (weak comparison, as RFC 9110 asks for If-None-Match).
func etagMatches(header, sha256 string) bool {
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == `"`+sha256+`"` {
			return true
		}
	}
	return false
}

func (h handlers) UploadModelVersion(ctx context.Context, req api.UploadModelVersionRequestObject) (api.UploadModelVersionResponseObject, error) {
	if h.deps.Models == nil {
		return nil, fmt.Errorf("model registry: %w", errNotConfigured)
	}
	var (
		files    []registry.File
		features = h.deps.FeatureNames
		activate bool
	)
	for {
		part, err := req.Body.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, badRequest("multipart body: %v", err)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", part.FormName(), err)
		}
		switch name := part.FormName(); name {
		case string(registry.FP32), string(registry.INT8):
			files = append(files, registry.File{Variant: registry.Variant(name), ONNX: data})
		case "features":
			features = nil
			for f := range strings.SplitSeq(string(data), ",") {
				features = append(features, strings.TrimSpace(f))
			}
		case "activate":
			if activate, err = strconv.ParseBool(string(data)); err != nil {
				return nil, badRequest("activate: %q is not true or false", data)
			}
		default:
			return nil, badRequest("unknown form field %q: want fp32, int8, features or activate", name)
		}
	}
	if len(features) == 0 {
		return nil, badRequest("features: required, as this server has no feature spec")
	}
	v, err := h.deps.Models.Register(ctx, req.Name, features, files...)
	if err != nil {
		return nil, err
	}
	if activate {
		if err := h.deps.Models.Activate(ctx, req.Name, v.Version); err != nil {
			return nil, err
		}
		v.Status = registry.Active
	}
	return api.UploadModelVersion201JSONResponse(modelVersion(v)), nil
}

func (h handlers) ActivateModelVersion(ctx context.Context, req api.ActivateModelVersionRequestObject) (api.ActivateModelVersionResponseObject, error) {
	if h.deps.Models == nil {
		return nil, fmt.Errorf("model registry: %w", errNotConfigured)
	}
	if err := h.deps.Models.Activate(ctx, req.Name, req.Body.Version); err != nil {
		return nil, err
	}
	return api.ActivateModelVersion200JSONResponse{Name: req.Name, ActiveVersion: req.Body.Version}, nil
}

func (h handlers) RollbackModel(ctx context.Context, req api.RollbackModelRequestObject) (api.RollbackModelResponseObject, error) {
	if h.deps.Models == nil {
		return nil, fmt.Errorf("model registry: %w", errNotConfigured)
	}
	v, err := h.deps.Models.Rollback(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return api.RollbackModel200JSONResponse{Name: req.Name, ActiveVersion: v}, nil
}

// modelVersion renders a version with the download paths of its files.
func modelVersion(v registry.Version) api.ModelVersion {
	out := api.ModelVersion{
		Name: v.Model, Version: v.Version, Status: api.ModelVersionStatus(v.Status), CreatedAt: v.CreatedAt,
		FeatureNames: v.Features, InputWidth: v.InputWidth, Files: make([]api.ModelFile, len(v.Artifacts)),
	}
	for i, a := range v.Artifacts {
		out.Files[i] = api.ModelFile{
			Variant: api.ModelFileVariant(a.Variant), Sha256: a.SHA256, SizeBytes: a.Size,
			Url: fmt.Sprintf("/v1/models/%s/versions/%d/%s.onnx", url.PathEscape(v.Model), v.Version, a.Variant),
		}
	}
	return out
}

func optVersion(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}
