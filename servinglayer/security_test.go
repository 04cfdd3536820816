package servinglayer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// TestModelUploadValidation: an upload is size-limited (413) and must be a model the
// ONNX Runtime loads, with the input width of its feature names, before anything of it
// is stored: every bad file is a 400 naming what is wrong, and the registry stays empty.
func TestModelUploadValidation(t *testing.T) {
	const limit = 64 << 10
	s := newStack(t, stackOptions{cfg: servinglayer.Config{AdminToken: adminToken, MaxModelBytes: limit}})
	width := len(featureNames)
	good := ortenv.ONNX(t, logistic(width, 1))
	// edited returns the good model with edit applied to its graph.
	edited := func(edit func(g *onnxmodel.Graph)) []byte {
		m, err := logistic(width, 1).Model()
		if err != nil {
			t.Fatal(err)
		}
		edit(&m.Graph)
		return m.Marshal()
	}
	for _, tc := range []struct {
		name string
		onnx []byte
		want string // in the error
	}{
		{"garbage", []byte("\x00\x01not a model at all\xff"), "invalid model"},
		{"empty", nil, "invalid model"},
		{"truncated", good[:len(good)/2], "invalid model"},
		{"wrong input width", ortenv.ONNX(t, logistic(width+1, 1)), "feature mismatch"},
		{"two inputs", edited(func(g *onnxmodel.Graph) { g.Inputs = append(g.Inputs, g.Inputs[0]) }), "2 inputs"},
		{"input name no node reads", edited(func(g *onnxmodel.Graph) { g.Inputs[0].Name = "other" }), "trial load"},
		{"output name no node writes", edited(func(g *onnxmodel.Graph) { g.Outputs[0].Name = "other" }), "trial load"},
		{"unknown operator", edited(func(g *onnxmodel.Graph) { g.Nodes[len(g.Nodes)-1].OpType = "NoSuchOp" }), "trial load"},
		{"weights of another width", edited(func(g *onnxmodel.Graph) {
			g.Initializer[0] = onnxmodel.FloatTensor("w", []int64{int64(width + 2), 1}, make([]float32, width+2))
		}), "trial load"},
	} {
		r := s.upload("demo", map[string][]byte{"fp32": tc.onnx}, nil, admin...)
		if msg := r.errorText(t); r.status != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: status %d %q; want 400 mentioning %q", tc.name, r.status, msg, tc.want)
		}
		// The same file as the int8 variant of a good version is refused alike.
		r = s.upload("demo", map[string][]byte{"fp32": good, "int8": tc.onnx}, nil, admin...)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s as int8: status %d: %s", tc.name, r.status, r.body)
		}
	}

	huge := bytes.Repeat([]byte{0x08}, limit+1)
	if r := s.upload("demo", map[string][]byte{"fp32": huge}, nil, admin...); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("upload over the limit: status %d: %s", r.status, r.body)
	}
	body, ctype := modelForm(t, map[string][]byte{"fp32": huge}, nil)
	if r := s.do(http.MethodPost, "/v1/models/demo/versions", chunked{body}, append([]string{"Content-Type", ctype}, admin...)...); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked upload over the limit: status %d: %s", r.status, r.body)
	}
	// Over the limit before the first part (a preamble the multipart reader skips).
	body, ctype = modelForm(t, map[string][]byte{"fp32": good}, nil)
	preamble := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), limit+1)), strings.NewReader("\r\n"), body)
	if r := s.do(http.MethodPost, "/v1/models/demo/versions", chunked{preamble}, append([]string{"Content-Type", ctype}, admin...)...); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked upload over the limit in its preamble: status %d: %s", r.status, r.body)
	}
	s.expectRows("models", 0)
	s.expectRows("model_versions", 0)
	s.expectRows("model_artifacts", 0)

	if r := s.upload("demo", map[string][]byte{"fp32": good}, nil, admin...); r.status != http.StatusCreated {
		t.Fatalf("good upload: status %d: %s", r.status, r.body)
	}
	s.expectRows("model_artifacts", 1)
}

// expectRows checks the number of rows of a PostgreSQL table.
func (s *stack) expectRows(table string, want int) {
	s.t.Helper()
	var n int
	if err := s.pg.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	if n != want {
		s.t.Errorf("%s: %d rows, want %d", table, n, want)
	}
}

// pathDefaults are valid values of the path parameters, by name, so that a request
// with one hostile parameter gets past the others.
var pathDefaults = map[string]string{"id": "1", "name": "demo", "version": "1", "file": "fp32.onnx"}

// TestHostileIDs sends hostile values (testenv.HostileIDs: traversal, escaped and raw
// slashes, NUL, quotes and SQL, unicode, 1 KB) in every path parameter of every
// operation of the OpenAPI document, with the admin token: each answer is a 4xx with a
// JSON problem body, the registry holds what it held, and no file appears anywhere a
// name could have led.
func TestHostileIDs(t *testing.T) {
	s := newStack(t, stackOptions{cfg: servinglayer.Config{AdminToken: adminToken}})
	s.activeModel("demo", logistic(3, 1))
	spec, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	roots := hostileRoots(t)
	before := markedFiles(t, roots)

	var ops, requests int
	for path, item := range spec.Paths.Map() {
		params := pathParams(path)
		if len(params) == 0 {
			continue
		}
		for method := range item.Operations() {
			ops++
			for _, param := range params {
				for _, value := range testenv.HostileIDs {
					for _, encoded := range encodings(value) {
						requests++
						s.checkHostile(method, fillPath(path, param, encoded))
					}
				}
			}
		}
	}
	// Ids in a body are checked as in a path.
	for _, value := range testenv.HostileIDs {
		ids, err := json.Marshal(map[string][]string{"ids": {"e1", value}})
		if err != nil {
			t.Fatal(err)
		}
		if r := s.post("/v1/predictions:batchGet", string(ids)); r.status >= 500 {
			t.Errorf("batchGet %q: status %d: %.200s", value, r.status, r.body)
		}
		requests++
	}
	if ops < 15 {
		t.Fatalf("only %d operations with path parameters in the OpenAPI document", ops)
	}
	t.Logf("%d operations, %d requests with hostile path parameters", ops, requests)

	s.expectRows("models", 1)
	s.expectRows("model_versions", 1)
	s.expectRows("model_artifacts", 1)
	if after := markedFiles(t, roots); !slices.Equal(before, after) {
		t.Errorf("files named after hostile ids appeared: %v", after)
	}
}

// checkHostile sends one request and checks its answer.
func (s *stack) checkHostile(method, path string) {
	s.t.Helper()
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		body = strings.NewReader("{}")
	}
	r := s.do(method, path, body, admin...)
	if r.status < 400 || r.status >= 500 {
		s.t.Errorf("%s %s: status %d, want a 4xx: %.200s", method, path, r.status, r.body)
		return
	}
	if method == http.MethodHead {
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || !bytes.Contains(r.body, []byte(`"code"`)) {
		s.t.Errorf("%s %s: status %d, %s %.200s: not a problem body", method, path, r.status, ct, r.body)
	}
}

// pathParams returns the names of the {parameters} of an OpenAPI path.
func pathParams(path string) []string {
	var out []string
	for rest := path; ; {
		_, after, ok := strings.Cut(rest, "{")
		if !ok {
			return out
		}
		name, tail, _ := strings.Cut(after, "}")
		out = append(out, name)
		rest = tail
	}
}

// fillPath fills param with value and the other parameters with their defaults.
func fillPath(path, param, value string) string {
	for _, p := range pathParams(path) {
		v := pathDefaults[p]
		if p == param {
			v = value
		}
		path = strings.Replace(path, "{"+p+"}", v, 1)
	}
	return path
}

// encodings are the forms a value takes in a path: escaped, and raw as well when it
// can appear unescaped in a URL (slashes and dots then reach the router as they are).
func encodings(value string) []string {
	out := []string{url.PathEscape(value)}
	raw := value != "" && !strings.ContainsFunc(value, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("%?#\\\"`", r)
	})
	if raw && out[0] != value {
		out = append(out, value)
	}
	return out
}

// hostileRoots are the directories a name turned into a path could reach: the working
// directory, the module root above it, the temporary directory and /.
func hostileRoots(t *testing.T) []string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return []string{filepath.Dir(wd), os.TempDir(), "/"}
}

// markedFiles lists the files and directories whose name holds testenv.HostileMarker:
// the module (walked whole) and the top level of the other roots.
func markedFiles(t *testing.T, roots []string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(roots[0], func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished while walking
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if strings.Contains(d.Name(), testenv.HostileMarker) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range roots[1:] {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if strings.Contains(e.Name(), testenv.HostileMarker) {
				out = append(out, filepath.Join(root, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out
}
