package servinglayer_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/servinglayer"
)

// TestEdgeClientFiles: the browser client's page, module and onnxruntime-web files are
// served at /edge/ outside the OpenAPI document, with the types browsers need, and a
// missing runtime is a 503 that says how to fetch it.
func TestEdgeClientFiles(t *testing.T) {
	dir := t.TempDir()
	srv, err := servinglayer.NewServer(servinglayer.Deps{}, servinglayer.Config{ORTWebDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, srv)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fetch := func(method, path string, header ...string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, res.Header, body
	}

	if code, h, _ := fetch(http.MethodGet, "/edge"); code != http.StatusMovedPermanently || h.Get("Location") != "/edge/" {
		t.Errorf("GET /edge: %d to %q, want 301 to /edge/", code, h.Get("Location"))
	}
	code, h, body := fetch(http.MethodGet, "/edge/?entity=user-000001")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte(`src="page.js"`)) || h.Get("ETag") == "" {
		t.Fatalf("GET /edge/: %d %s %q, want the page with an ETag", code, h.Get("Content-Type"), body)
	}
	if code, _, _ := fetch(http.MethodGet, "/edge/", "If-None-Match", h.Get("ETag")); code != http.StatusNotModified {
		t.Errorf("GET /edge/ with its ETag: %d, want 304", code)
	}
	if code, _, _ := fetch(http.MethodHead, "/edge/"); code != http.StatusOK {
		t.Errorf("HEAD /edge/: %d, want 200", code)
	}
	for _, path := range []string{"/edge/edge.js", "/edge/page.js"} {
		code, h, body := fetch(http.MethodGet, path)
		if code != http.StatusOK || h.Get("Content-Type") != "text/javascript; charset=utf-8" || !bytes.Contains(body, []byte("import")) && !bytes.Contains(body, []byte("export")) {
			t.Errorf("GET %s: %d %s, want the ES module as JavaScript", path, code, h.Get("Content-Type"))
		}
	}

	for path, want := range map[string]int{
		"/edge/nope.js":              http.StatusNotFound,
		"/edge/ort/ort.min.js":       http.StatusNotFound, // not one the page loads
		"/edge/ort/ort.wasm.min.mjs": http.StatusServiceUnavailable,
	} {
		code, _, body := fetch(http.MethodGet, path)
		if code != want || !bytes.Contains(body, []byte(`"error"`)) {
			t.Errorf("GET %s: %d %s, want %d with an error", path, code, body, want)
		}
		if want == http.StatusServiceUnavailable && !bytes.Contains(body, []byte("LAMBDA_ORT_WEB_DIR")) {
			t.Errorf("GET %s: %s, want how to install onnxruntime-web", path, body)
		}
	}

	wasm := []byte("\x00asm\x01\x00\x00\x00")
	if err := os.WriteFile(filepath.Join(dir, "ort-wasm-simd-threaded.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	code, h, body = fetch(http.MethodGet, "/edge/ort/ort-wasm-simd-threaded.wasm")
	if code != http.StatusOK || h.Get("Content-Type") != "application/wasm" || !bytes.Equal(body, wasm) {
		t.Errorf("GET the wasm: %d %s %q, want the file as application/wasm", code, h.Get("Content-Type"), body)
	}
}
