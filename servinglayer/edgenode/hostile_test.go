package edgenode_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/servinglayer/api"
	"github.com/lambda-platform/lambda/servinglayer/edgenode"
)

// TestHostileModelNames: a model name names a directory of the node's data dir only
// when registry.CheckName accepts it, whether it comes from the configuration or from
// an upstream that lists hostile names or sends a manifest naming another model.
func TestHostileModelNames(t *testing.T) {
	for _, name := range testenv.HostileIDs {
		if registry.CheckName(name) == nil {
			continue
		}
		_, err := edgenode.New(edgenode.Config{Upstream: "http://127.0.0.1:1", Dir: t.TempDir(), Models: []string{name}}, nil, nil)
		if !errors.Is(err, registry.ErrInvalidName) {
			t.Errorf("--models %q: %v, want ErrInvalidName", name, err)
		}
	}

	one := int64(1)
	hostile := "../" + testenv.HostileMarker
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/models" {
			list := api.ModelList{Models: []api.ModelSummary{{Name: "ok", ActiveVersion: &one}}}
			for _, name := range testenv.HostileIDs {
				list.Models = append(list.Models, api.ModelSummary{Name: name, ActiveVersion: &one})
			}
			_ = json.NewEncoder(w).Encode(list)
			return
		}
		// Every model's manifest names a version of a model that is a path.
		_ = json.NewEncoder(w).Encode(api.ModelManifest{Name: hostile, ActiveVersion: &one, Versions: []api.ModelVersion{{
			Name: hostile, Version: 1, Status: "active", FeatureNames: []string{"a"}, InputWidth: 1,
			Files: []api.ModelFile{{Variant: "fp32", Url: "/v1/models/x/versions/1/fp32.onnx"}},
		}}})
	}))
	defer upstream.Close()
	root := t.TempDir()
	dir := filepath.Join(root, "data", "edge")
	m, err := edgenode.New(edgenode.Config{Upstream: upstream.URL, Dir: dir}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Sync(t.Context()); err == nil || !strings.Contains(err.Error(), "model ok") {
		t.Errorf("sync with a manifest of another model name: %v, want model ok's error", err)
	}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if strings.Contains(d.Name(), testenv.HostileMarker) || d.Name() != "ok" && filepath.IsLocal(rel) && rel != "." {
			t.Errorf("%s written", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
