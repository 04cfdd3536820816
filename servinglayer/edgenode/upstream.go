package edgenode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// activeModels lists the upstream's models that have an active version.
func (m *Mirror) activeModels(ctx context.Context) ([]string, error) {
	resp, err := m.get(ctx, "/v1/models", "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp)
	}
	var list api.ModelList
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxManifestBytes)).Decode(&list); err != nil {
		return nil, &syncError{reasonManifest, fmt.Errorf("model list: %w", err)}
	}
	var names []string
	for _, s := range list.Models {
		if s.ActiveVersion != nil && registry.CheckName(s.Name) == nil {
			names = append(names, s.Name)
		}
	}
	return names, nil
}

// download fetches the version's files of the mirrored variants and verifies them; v
// lists only those.
func (m *Mirror) download(ctx context.Context, v api.ModelVersion) (api.ModelVersion, map[registry.Variant][]byte, error) {
	files := map[registry.Variant][]byte{}
	var kept []api.ModelFile
	for _, f := range v.Files {
		if !slices.Contains(m.cfg.Variants, registry.Variant(f.Variant)) {
			continue
		}
		if f.SizeBytes < 0 || !strings.HasPrefix(f.Url, "/") {
			return v, nil, &syncError{reasonManifest, fmt.Errorf("%s file: size %d, url %q", f.Variant, f.SizeBytes, f.Url)}
		}
		resp, err := m.get(ctx, f.Url, "")
		if err != nil {
			return v, nil, err
		}
		data, err := readFile(resp, f.SizeBytes)
		if err != nil {
			return v, nil, err
		}
		if err := verify(f, data); err != nil {
			return v, nil, &syncError{reasonChecksum, fmt.Errorf("version %d: %w", v.Version, err)}
		}
		files[registry.Variant(f.Variant)] = data
		kept = append(kept, f)
	}
	if files[m.cfg.Score] == nil {
		return v, nil, &syncError{reasonManifest, fmt.Errorf("version %d has no %s file", v.Version, m.cfg.Score)}
	}
	v.Files, v.Status = kept, api.ModelVersionStatus(registry.Active)
	return v, files, nil
}

// readFile reads a download's body, at most size bytes and one more to notice a longer one.
func readFile(resp *http.Response, size int64) ([]byte, error) {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, size+1))
	if err != nil {
		return nil, &syncError{reasonUnreachable, fmt.Errorf("read %s: %w", resp.Request.URL.Path, err)}
	}
	return data, nil
}

// get requests path from the upstream, with If-None-Match when etag is set.
func (m *Mirror) get(ctx context.Context, path, etag string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.cfg.Upstream+path, nil)
	if err != nil {
		return nil, &syncError{reasonManifest, err}
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if m.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+m.cfg.Token)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, &syncError{reasonUnreachable, err}
	}
	return resp, nil
}

// statusError describes an unexpected answer of the upstream.
func statusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &syncError{reasonStatus, fmt.Errorf("GET %s: %s %s", resp.Request.URL.Path, resp.Status, strings.TrimSpace(string(body)))}
}
