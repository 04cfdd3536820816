package servinglayer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	m, err := h.manifest(ctx, req.Name, req.Params.IfNoneMatch)
	if err == nil {
		h.metrics.downloaded(req.Name, "manifest", m.current)
	}
	return m, err
}

func (h handlers) HeadModel(ctx context.Context, req api.HeadModelRequestObject) (api.HeadModelResponseObject, error) {
	return h.manifest(ctx, req.Name, req.Params.IfNoneMatch)
}

// manifest returns the manifest of the model name, to answer a client whose copy has
// the entity tags of ifNoneMatch.
func (h handlers) manifest(ctx context.Context, name string, ifNoneMatch *string) (manifest, error) {
	if h.deps.Models == nil {
		return manifest{}, fmt.Errorf("model registry: %w", errNotConfigured)
	}
	models, err := h.deps.Models.Models(ctx)
	if err != nil {
		return manifest{}, unavailable(err, "list models")
	}
	i := slices.IndexFunc(models, func(m registry.Model) bool { return m.Name == name })
	if i < 0 {
		return manifest{}, fmt.Errorf("model %s: %w", name, registry.ErrNotFound)
	}
	versions, err := h.deps.Models.Versions(ctx, name)
	if err != nil {
		return manifest{}, err
	}
	m := models[i]
	out := api.ModelManifest{
		Name: m.Name, Description: m.Description, CreatedAt: m.CreatedAt,
		ActiveVersion: optVersion(m.ActiveVersion), Versions: make([]api.ModelVersion, len(versions)),
	}
	for i, v := range versions {
		out.Versions[i] = modelVersion(v)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return manifest{}, err
	}
	sum := sha256.Sum256(body)
	etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
	return manifest{body: body, etag: etag, current: ifNoneMatch != nil && etagMatches(*ifNoneMatch, etag)}, nil
}

// manifest answers a model's manifest with a weak ETag of its content (it changes with
// the active version, a new version, a rollback) and Cache-Control no-cache, so edge
// clients revalidate with If-None-Match each time and get 304 while it is unchanged.
type manifest struct {
	body    []byte // JSON
	etag    string
	current bool // the client's copy has the ETag
}

func (m manifest) VisitGetModelResponse(w http.ResponseWriter) error {
	h := w.Header()
	h.Set("ETag", m.etag)
	h.Set("Cache-Control", "no-cache")
	if m.current {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(m.body)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(m.body)
	return err
}

// VisitHeadModelResponse answers as GET does; the server sends no body to HEAD.
func (m manifest) VisitHeadModelResponse(w http.ResponseWriter) error {
	return m.VisitGetModelResponse(w)
}

func (h handlers) GetModelFile(ctx context.Context, req api.GetModelFileRequestObject) (api.GetModelFileResponseObject, error) {
	f, err := h.modelFile(ctx, http.MethodGet, req.Name, req.Version, string(req.File), req.Params)
	if err == nil {
		h.metrics.downloaded(req.Name, strings.TrimSuffix(string(req.File), ".onnx"), f.onnx == nil)
	}
	return f, err
}

func (h handlers) HeadModelFile(ctx context.Context, req api.HeadModelFileRequestObject) (api.HeadModelFileResponseObject, error) {
	return h.modelFile(ctx, http.MethodHead, req.Name, req.Version, string(req.File), api.GetModelFileParams(req.Params))
}

// modelFile returns a version's file to answer a request of method with params.
func (h handlers) modelFile(ctx context.Context, method, name string, version int64, file string, params api.GetModelFileParams) (modelFile, error) {
	if h.deps.Models == nil {
		return modelFile{}, fmt.Errorf("model registry: %w", errNotConfigured)
	}
	variant := registry.Variant(strings.TrimSuffix(file, ".onnx"))
	v, err := h.deps.Models.Version(ctx, name, version)
	if err != nil {
		return modelFile{}, err
	}
	a, ok := v.Artifact(variant)
	if !ok {
		return modelFile{}, fmt.Errorf("%s file of %s: %w", variant, v, registry.ErrNotFound)
	}
	f := modelFile{method: method, etag: `"` + a.SHA256 + `"`, modified: a.CreatedAt, params: params,
		name: fmt.Sprintf("%s-v%d-%s.onnx", v.Model, v.Version, variant)}
	if params.IfNoneMatch != nil && etagMatches(*params.IfNoneMatch, f.etag) {
		return f, nil // 304 without reading the file
	}
	if f.onnx, _, err = h.deps.Models.ONNX(ctx, name, version, variant); err != nil {
		return modelFile{}, err
	}
	return f, nil
}

// modelFile answers a model file download with http.ServeContent, which handles HEAD,
// If-None-Match (304), Range (206, 416) and If-Range (the whole file when it names
// another one); onnx nil means the client's copy is current.
type modelFile struct {
	method   string
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
	r := &http.Request{Method: f.method, Header: http.Header{}}
	for name, value := range map[string]*string{"If-None-Match": f.params.IfNoneMatch, "Range": f.params.Range, "If-Range": f.params.IfRange} {
		if value != nil {
			r.Header.Set(name, *value)
		}
	}
	http.ServeContent(w, r, f.name, f.modified, bytes.NewReader(f.onnx))
	return nil
}

func (f modelFile) VisitHeadModelFileResponse(w http.ResponseWriter) error {
	return f.VisitGetModelFileResponse(w)
}

// etagMatches reports whether an If-None-Match header lists etag (weak comparison, as
// RFC 9110 asks for If-None-Match).
func etagMatches(header, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
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
