package servinglayer_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// problemBody is an error answer with its problem details fields.
type problemBody struct {
	Error, Type, Title, Detail, Code string
	Status                           int
}

func (r response) problem(t *testing.T) problemBody {
	t.Helper()
	var p problemBody
	if err := json.Unmarshal(r.body, &p); err != nil || p.Error == "" || p.Detail != p.Error || p.Status != r.status ||
		p.Type != "about:blank" || p.Title != http.StatusText(r.status) || p.Code == "" {
		t.Fatalf("status %d: body %s is not a problem", r.status, r.body)
	}
	return p
}

// TestInferBodies: the infer body as clients send it beyond plain JSON, and its bad
// inputs answered 4xx with a code and a message naming the problem.
func TestInferBodies(t *testing.T) {
	s := newStack(t, stackOptions{})
	lr := logistic(3, 1)
	s.activeModel("m", lr)
	const path = "/v2/models/m/infer"
	body := `{"inputs":[{"name":"features","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[-1,0.5,4]]}]}`
	post := func(body []byte, header ...string) response {
		req, err := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: b.Bytes()}
	}

	t.Run("accepted", func(t *testing.T) {
		var deflated bytes.Buffer
		w := zlib.NewWriter(&deflated)
		_, _ = w.Write([]byte(body))
		_ = w.Close()
		for name, r := range map[string]response{
			"no Content-Type":          post([]byte(body)),
			"text/plain":               post([]byte(body), "Content-Type", "text/plain"),
			"application/octet-stream": post([]byte(body), "Content-Type", "application/octet-stream"),
			"gzip":                     post(gzipped(body), "Content-Encoding", "gzip"),
			"deflate":                  post(deflated.Bytes(), "Content-Encoding", "deflate"),
		} {
			var out api.OIPInferResponse
			if r.status != http.StatusOK || json.Unmarshal(r.body, &out) != nil {
				t.Errorf("%s: status %d: %s", name, r.status, r.body)
				continue
			}
			checkScores(t, lr, [][]float32{{1, 2, 3}, {-1, 0.5, 4}}, out.Outputs[0].Data)
		}
	})

	t.Run("no rows", func(t *testing.T) {
		for _, b := range []string{
			`{"inputs":[{"name":"features","shape":[0,3],"datatype":"FP32","data":[]}]}`,
			`{"inputs":[{"name":"features","shape":[0,3],"datatype":"FP32","data":[]}],"parameters":{"binary_data_output":true}}`,
		} {
			r := post([]byte(b))
			header := r.body
			if n, err := strconv.Atoi(r.header.Get("Inference-Header-Content-Length")); err == nil {
				header = r.body[:n]
			}
			if r.status != http.StatusOK || !strings.Contains(string(header), `"shape":[0]`) ||
				!strings.Contains(string(header), `"data":[]`) && !strings.Contains(string(header), `"binary_data_size":0`) {
				t.Errorf("%s: status %d: %s", b, r.status, r.body)
			}
		}
	})

	header := `{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}]}`
	hlen := strconv.Itoa(len(header))
	section := le32([]float32{1, 2, 3})
	for _, tc := range []struct {
		name   string
		body   []byte
		header []string
		status int
		code   string
		want   string
	}{
		{"binary section shorter than its size", append([]byte(header), section[:11]...), []string{"Inference-Header-Content-Length", hlen},
			400, "invalid_binary_data", "binary_data_size: 12 bytes, but the binary section has only 11"},
		{"binary section longer than its size", append([]byte(header), append(section, 0)...), []string{"Inference-Header-Content-Length", hlen},
			400, "invalid_binary_data", "1 more than"},
		{"header length beyond the body", append([]byte(header), section...), []string{"Inference-Header-Content-Length", "9999"},
			400, "invalid_binary_data", "9999, but the body has only"},
		{"header length not a number", append([]byte(header), section...), []string{"Inference-Header-Content-Length", "ten"},
			400, "invalid_binary_data", `"ten" is not a byte count`},
		{"binary data size not the shape's", []byte(strings.Replace(header, "[1,3]", "[1,2]", 1) + string(section)),
			[]string{"Inference-Header-Content-Length", hlen}, 400, "invalid_binary_data", "the shape holds 2 FP32 values"},
		{"wrong shape", []byte(`{"inputs":[{"name":"features","shape":[1,2,3],"datatype":"FP32","data":[1,2,3]}]}`), nil,
			400, "invalid_shape", "inputs[0].shape: [1 2 3]"},
		{"row of the wrong length", []byte(`{"inputs":[{"name":"features","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[1,2]]}]}`), nil,
			400, "invalid_shape", "inputs[0].data[1]: 2 values"},
		{"unknown datatype", []byte(`{"inputs":[{"name":"features","shape":[1,3],"datatype":"FLOAT","data":[1,2,3]}]}`), nil,
			400, "unsupported_datatype", `unknown datatype "FLOAT"`},
		{"BOOL", []byte(`{"inputs":[{"name":"features","shape":[1,3],"datatype":"BOOL","data":[true,true,false]}]}`), nil,
			400, "unsupported_datatype", "BOOL is not served"},
		{"BYTES", []byte(`{"inputs":[{"name":"features","shape":[1,1],"datatype":"BYTES","data":["abc"]}]}`), nil,
			400, "unsupported_datatype", "BYTES is not served"},
		{"empty body", nil, nil, 400, "invalid_request", "empty"},
		{"bad gzip", []byte("not gzip"), []string{"Content-Encoding", "gzip"}, 400, "invalid_request", "Content-Encoding gzip"},
		{"unknown encoding", []byte(body), []string{"Content-Encoding", "br"}, 415, "unsupported_media_type", "Content-Encoding br"},
		{"gzip bomb", gzipped(`{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"id":"` +
			strings.Repeat("x", event.MaxBatchBytes) + `"}`), []string{"Content-Encoding", "gzip"}, 413, "too_large", "Too Large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.body, tc.header...)
			p := r.problem(t)
			if r.status != tc.status || p.Code != tc.code || !strings.Contains(p.Error, tc.want) {
				t.Errorf("status %d, code %s, %q; want %d, %s mentioning %q", r.status, p.Code, p.Error, tc.status, tc.code, tc.want)
			}
		})
	}
}

// busy is a batch trigger whose lock another session holds.
type busy struct{}

func (busy) Trigger(context.Context, string, string) (runs.Run, bool, error) {
	return runs.Run{}, false, runs.ErrBusy
}

// TestErrorBodies: every error answer keeps {"error": "..."} and adds the problem
// details fields and a stable code; 503 and a busy batch lock say when to retry.
func TestErrorBodies(t *testing.T) {
	s := newStack(t, stackOptions{cfg: servinglayer.Config{AdminToken: adminToken}, trigger: busy{}})
	bare, err := servinglayer.NewServer(servinglayer.Deps{}, servinglayer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	unconfigured := &stack{t: t, client: http.DefaultClient, url: serve(t, bare)}
	for _, tc := range []struct {
		name       string
		r          response
		status     int
		code       string
		retryAfter bool
	}{
		{"no entity", s.get("/v1/entities/nobody/prediction"), 404, "entity_not_found", false},
		{"no model", s.get("/v2/models/nope"), 404, "model_not_found", false},
		{"no route", s.get("/v9"), 404, "not_found", false},
		{"bad parameter", s.get("/v1/batch/runs?limit=0"), 400, "invalid_request", false},
		{"no token", s.post("/v1/batch/runs", ""), 401, "unauthorized", false},
		{"wrong method", s.do(http.MethodDelete, "/v1/models", nil), 405, "method_not_allowed", false},
		{"batch busy", s.post("/v1/batch/runs", "", admin...), 409, "batch_busy", true},
		{"not configured", unconfigured.get("/v2/models/m"), 503, "not_configured", true},
	} {
		p := tc.r.problem(t)
		if tc.r.status != tc.status || p.Code != tc.code || (tc.r.header.Get("Retry-After") == "5") != tc.retryAfter {
			t.Errorf("%s: status %d, code %s, Retry-After %q; want %d, %s, Retry-After %v",
				tc.name, tc.r.status, p.Code, tc.r.header.Get("Retry-After"), tc.status, tc.code, tc.retryAfter)
		}
	}
}

func TestCORS(t *testing.T) {
	const origin = "https://edge.example"
	s := newStack(t, stackOptions{cfg: servinglayer.Config{AdminToken: adminToken, CORSOrigins: []string{origin, "https://*.example.org"}}})
	preflight := func(path, method, from string) response {
		return s.do(http.MethodOptions, path, nil, "Origin", from, "Access-Control-Request-Method", method,
			"Access-Control-Request-Headers", "content-type,inference-header-content-length")
	}
	for _, tc := range []struct {
		path, method string
		allowed      bool
	}{
		{"/v2/models/demo/infer", http.MethodPost, true},
		{"/v2/models/demo/versions/2/infer", http.MethodPost, true},
		{"/v2/models/demo", http.MethodGet, true},
		{"/v2/health/ready", http.MethodGet, true},
		{"/v1/entities/u-1/prediction", http.MethodGet, true},
		{"/v1/predictions:batchGet", http.MethodPost, true},
		{"/v1/models/demo", http.MethodHead, true},
		{"/v1/models/demo/versions/1/int8.onnx", http.MethodGet, true},
		{"/v1/models/demo/activate", http.MethodPost, false},
		{"/v1/models/demo/versions", http.MethodPost, false},
		{"/v1/events", http.MethodPost, false},
		{"/v1/batch/runs", http.MethodPost, false},
		{"/metrics", http.MethodGet, false},
	} {
		r := preflight(tc.path, tc.method, origin)
		got := r.status == http.StatusNoContent && r.header.Get("Access-Control-Allow-Origin") == origin &&
			strings.Contains(r.header.Get("Access-Control-Allow-Methods"), tc.method) &&
			strings.Contains(strings.ToLower(r.header.Get("Access-Control-Allow-Headers")), "inference-header-content-length")
		if got != tc.allowed {
			t.Errorf("preflight %s %s: status %d, headers %v; allowed %v, want %v", tc.method, tc.path, r.status, r.header, got, tc.allowed)
		}
	}
	if r := preflight("/v2/models/demo/infer", http.MethodPost, "https://evil.example"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin: headers %v", r.header)
	}
	if r := preflight("/v2/models/demo/infer", http.MethodPost, "https://a.example.org"); r.header.Get("Access-Control-Allow-Origin") != "https://a.example.org" {
		t.Errorf("an origin of a pattern: headers %v", r.header)
	}
	r := s.get("/v2/health/live", "Origin", origin)
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != origin ||
		!slices.Contains(strings.Split(r.header.Get("Access-Control-Expose-Headers"), ","), "ETag") {
		t.Errorf("simple request: status %d, headers %v", r.status, r.header)
	}

	plain := newStack(t, stackOptions{}) // no origins configured: same-origin only
	r = plain.do(http.MethodOptions, "/v2/models/demo/infer", nil, "Origin", origin, "Access-Control-Request-Method", "POST")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no origins configured: status %d, headers %v", r.status, r.header)
	}
}
