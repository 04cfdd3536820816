// Package edgeclient is the browser client of the platform's models: a page served at
// /edge/ and the ES module it uses (edge.js, usable on any page), embedded in the
// binary, plus onnxruntime-web's files served from a directory of the machine
// (scripts/services.sh fetches them from the npm package, checksum-verified).
//
// The module reads a model's manifest (GET /v1/models/{name}), downloads the active
// version's INT8 (or fp32) file, checks its sha256 with SubtleCrypto before use, keeps
// it in the Cache API keyed by sha256, revalidates it with If-None-Match on the next
// load and replaces it when another version becomes active; it scores on the device
// with onnxruntime-web's single-threaded wasm, so no cross-origin isolation is needed.
package edgeclient

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RuntimeVersion is the onnxruntime-web release the page loads.
const RuntimeVersion = "1.30.0"

// DefaultRuntimeDir is where scripts/services.sh puts onnxruntime-web's files.
const DefaultRuntimeDir = ".cache/onnxruntime-web/" + RuntimeVersion

// RuntimeFiles are the onnxruntime-web files the page loads: the wasm-only ES module,
// the Emscripten module it imports and the single-threaded-capable SIMD wasm binary.
var RuntimeFiles = []string{"ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"}

var (
	// ErrNotFound: no such file of the client.
	ErrNotFound = errors.New("no such file")
	// ErrRuntimeMissing: onnxruntime-web's files are not where the server looks for them.
	ErrRuntimeMissing = errors.New("onnxruntime-web is not installed")
)

//go:embed web
var web embed.FS

// asset is an embedded file with its entity tag.
type asset struct {
	body []byte
	etag string
}

// Files serves the client.
type Files struct {
	runtimeDir string
	assets     map[string]asset // by name under web/
}

// New returns the client's files, with onnxruntime-web's from runtimeDir.
func New(runtimeDir string) (*Files, error) {
	f := &Files{runtimeDir: runtimeDir, assets: map[string]asset{}}
	err := fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := web.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		f.assets[strings.TrimPrefix(p, "web/")] = asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded edge client: %w", err)
	}
	return f, nil
}

// Serve answers a GET or HEAD of name, the path under /edge/: "" is the page, ort/NAME
// one of RuntimeFiles. The page and the module are revalidated each time (their ETag
// changes with the binary); the runtime files may be cached for a day.
func (f *Files) Serve(w http.ResponseWriter, r *http.Request, name string) error {
	if rest, ok := strings.CutPrefix(name, "ort/"); ok {
		return f.serveRuntime(w, r, rest)
	}
	if name == "" {
		name = "index.html"
	}
	a, ok := f.assets[name]
	if !ok {
		return fmt.Errorf("/edge/%s: %w", name, ErrNotFound)
	}
	h := w.Header()
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	setType(h, name)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	return nil
}

func (f *Files) serveRuntime(w http.ResponseWriter, r *http.Request, name string) error {
	if !slices.Contains(RuntimeFiles, name) {
		return fmt.Errorf("/edge/ort/%s: %w (the page loads only %v)", name, ErrNotFound, RuntimeFiles)
	}
	file, err := os.Open(filepath.Join(f.runtimeDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s has no %s; run scripts/services.sh up or set LAMBDA_ORT_WEB_DIR", ErrRuntimeMissing, f.runtimeDir, name)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=86400")
	setType(h, name)
	http.ServeContent(w, r, name, info.ModTime(), file)
	return nil
}

// setType sets the Content-Type by extension: browsers load modules only as
// JavaScript and compile wasm as it streams only as application/wasm.
func setType(h http.Header, name string) {
	switch path.Ext(name) {
	case ".js", ".mjs":
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	case ".wasm":
		h.Set("Content-Type", "application/wasm")
	default:
		h.Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	}
}
