package servinglayer_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// upload posts a multipart model upload; fields are name, value pairs, files variant → bytes.
func (s *stack) upload(name string, files map[string][]byte, fields []string, header ...string) response {
	s.t.Helper()
	body, ctype := modelForm(s.t, files, fields)
	return s.do(http.MethodPost, "/v1/models/"+name+"/versions", body, append([]string{"Content-Type", ctype}, header...)...)
}

// modelForm returns the multipart body of a model upload and its Content-Type.
func modelForm(t testing.TB, files map[string][]byte, fields []string) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for variant, data := range files {
		fw, err := w.CreateFormFile(variant, variant+".onnx")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(data)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if err := w.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &body, w.FormDataContentType()
}

var admin = []string{"Authorization", "Bearer " + adminToken}

func TestModelDistribution(t *testing.T) {
	s := newStack(t, stackOptions{cfg: servinglayer.Config{AdminToken: adminToken}})
	fp32 := ortenv.ONNX(t, logistic(len(featureNames), 1))
	int8, err := quantize.Quantize(fp32, quantize.WeightOnly)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("upload needs the admin token", func(t *testing.T) {
		if r := s.upload("demo", map[string][]byte{"fp32": fp32}, nil); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("no token: status %d: %s", r.status, r.body)
		}
		if r := s.upload("demo", map[string][]byte{"fp32": fp32}, nil, "Authorization", "Bearer nope"); r.status != http.StatusUnauthorized {
			t.Errorf("wrong token: status %d: %s", r.status, r.body)
		}
	})

	t.Run("upload rejects bad versions", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			files  map[string][]byte
			fields []string
			want   string
		}{
			{"not onnx", map[string][]byte{"fp32": []byte("hello")}, nil, "invalid model"},
			{"width mismatch", map[string][]byte{"fp32": fp32}, []string{"features", "a,b"}, "feature mismatch"},
			{"no fp32", map[string][]byte{"int8": int8}, nil, "fp32"},
			{"unknown field", map[string][]byte{"fp32": fp32}, []string{"color", "red"}, "color"},
			{"bad activate", map[string][]byte{"fp32": fp32}, []string{"activate", "maybe"}, "activate"},
		} {
			r := s.upload("demo", tc.files, tc.fields, admin...)
			if msg := r.errorText(t); r.status != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Errorf("%s: status %d %q; want 400 mentioning %s", tc.name, r.status, msg, tc.want)
			}
		}
	})

	var v1 api.ModelVersion
	r := s.upload("demo", map[string][]byte{"fp32": fp32, "int8": int8}, []string{"activate", "true"}, admin...)
	r.json(t, &v1)
	if r.status != http.StatusCreated || v1.Version != 1 || v1.Status != "active" || len(v1.Files) != 2 || v1.InputWidth != len(featureNames) {
		t.Fatalf("upload: status %d: %s", r.status, r.body)
	}
	sum := sha256.Sum256(fp32)
	sha := hex.EncodeToString(sum[:])
	if v1.Files[0].Variant != "fp32" || v1.Files[0].Sha256 != sha || v1.Files[0].Url != "/v1/models/demo/versions/1/fp32.onnx" {
		t.Errorf("fp32 file %+v", v1.Files[0])
	}

	t.Run("list and manifest", func(t *testing.T) {
		var list api.ModelList
		s.get("/v1/models").json(t, &list)
		if len(list.Models) != 1 || list.Models[0].Name != "demo" || *list.Models[0].ActiveVersion != 1 {
			t.Errorf("list %+v", list)
		}
		var m api.ModelManifest
		r := s.get("/v1/models/demo")
		r.json(t, &m)
		if r.status != http.StatusOK || *m.ActiveVersion != 1 || len(m.Versions) != 1 || m.Versions[0].FeatureNames[0] != featureNames[0] {
			t.Errorf("manifest: status %d: %s", r.status, r.body)
		}
		if r := s.get("/v1/models/nope"); r.status != http.StatusNotFound {
			t.Errorf("unknown model: status %d", r.status)
		}
	})

	t.Run("download", func(t *testing.T) {
		const path = "/v1/models/demo/versions/1/fp32.onnx"
		r := s.get(path)
		etag := `"` + sha + `"`
		if r.status != http.StatusOK || !bytes.Equal(r.body, fp32) || r.header.Get("ETag") != etag ||
			r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			r.header.Get("Content-Type") != "application/octet-stream" || r.header.Get("Content-Encoding") != "" {
			t.Errorf("status %d, %d bytes, headers %v", r.status, len(r.body), r.header)
		}
		for _, inm := range []string{etag, `W/` + etag, `"other", ` + etag, "*"} {
			if r := s.get(path, "If-None-Match", inm); r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != etag {
				t.Errorf("If-None-Match %s: status %d, %d bytes", inm, r.status, len(r.body))
			}
		}
		if r := s.get(path, "If-None-Match", `"other"`); r.status != http.StatusOK || !bytes.Equal(r.body, fp32) {
			t.Errorf("stale If-None-Match: status %d", r.status)
		}
		r = s.get(path, "Range", "bytes=0-9")
		if r.status != http.StatusPartialContent || !bytes.Equal(r.body, fp32[:10]) ||
			r.header.Get("Content-Range") != fmt.Sprintf("bytes 0-9/%d", len(fp32)) {
			t.Errorf("Range 0-9: status %d, %q, %v", r.status, r.body, r.header)
		}
		r = s.get(path, "Range", "bytes=-5")
		if r.status != http.StatusPartialContent || !bytes.Equal(r.body, fp32[len(fp32)-5:]) {
			t.Errorf("Range -5: status %d", r.status)
		}
		if r := s.get(path, "Range", fmt.Sprintf("bytes=%d-", len(fp32)+10)); r.status != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("Range past the end: status %d", r.status)
		}
		if r := s.get("/v1/models/demo/versions/1/int8.onnx"); r.status != http.StatusOK || !bytes.Equal(r.body, int8) {
			t.Errorf("int8: status %d", r.status)
		}
		for _, p := range []string{"/v1/models/demo/versions/2/fp32.onnx", "/v1/models/nope/versions/1/fp32.onnx"} {
			if r := s.get(p); r.status != http.StatusNotFound {
				t.Errorf("%s: status %d", p, r.status)
			}
		}
		if r := s.get("/v1/models/demo/versions/1/fp16.onnx"); r.status != http.StatusBadRequest {
			t.Errorf("unknown variant: status %d", r.status)
		}
		// If-Range: the part while the client's copy is this file, else the whole file.
		r = s.get(path, "Range", "bytes=0-9", "If-Range", etag)
		if r.status != http.StatusPartialContent || !bytes.Equal(r.body, fp32[:10]) {
			t.Errorf("If-Range of this file: status %d", r.status)
		}
		r = s.get(path, "Range", "bytes=0-9", "If-Range", `"another"`)
		if r.status != http.StatusOK || !bytes.Equal(r.body, fp32) {
			t.Errorf("If-Range of another file: status %d, %d bytes", r.status, len(r.body))
		}
		r = s.do(http.MethodHead, path, nil)
		if r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("ETag") != etag || r.header.Get("Content-Length") != fmt.Sprint(len(fp32)) {
			t.Errorf("HEAD: status %d, %d bytes, headers %v", r.status, len(r.body), r.header)
		}
		if r := s.do(http.MethodHead, path, nil, "If-None-Match", etag); r.status != http.StatusNotModified {
			t.Errorf("HEAD If-None-Match: status %d", r.status)
		}
		if r := s.do(http.MethodHead, "/v1/models/demo/versions/7/fp32.onnx", nil); r.status != http.StatusNotFound || len(r.body) != 0 {
			t.Errorf("HEAD of no file: status %d", r.status)
		}
	})

	// manifestETag gets the manifest and checks its caching headers.
	manifestETag := func(t *testing.T) string {
		t.Helper()
		r := s.get("/v1/models/demo")
		etag := r.header.Get("ETag")
		if r.status != http.StatusOK || !strings.HasPrefix(etag, `W/"`) || r.header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("manifest: status %d, headers %v", r.status, r.header)
		}
		if r := s.get("/v1/models/demo", "If-None-Match", etag); r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != etag {
			t.Errorf("manifest If-None-Match: status %d", r.status)
		}
		if r := s.do(http.MethodHead, "/v1/models/demo", nil); r.status != http.StatusOK || len(r.body) != 0 || r.header.Get("ETag") != etag {
			t.Errorf("manifest HEAD: status %d, headers %v", r.status, r.header)
		}
		return etag
	}
	active1 := manifestETag(t)

	t.Run("activate and roll back", func(t *testing.T) {
		var v2 api.ModelVersion
		r := s.upload("demo", map[string][]byte{"fp32": ortenv.ONNX(t, logistic(len(featureNames), 2))}, nil, admin...)
		r.json(t, &v2)
		if r.status != http.StatusCreated || v2.Version != 2 || v2.Status != "registered" || len(v2.Files) != 1 {
			t.Fatalf("upload v2: status %d: %s", r.status, r.body)
		}
		if r := s.post("/v1/models/demo/activate", `{"version": 2}`); r.status != http.StatusUnauthorized {
			t.Errorf("activate without token: status %d", r.status)
		}
		var active api.ActiveVersion
		r = s.post("/v1/models/demo/activate", `{"version": 2}`, admin...)
		r.json(t, &active)
		if r.status != http.StatusOK || active.ActiveVersion != 2 {
			t.Errorf("activate: status %d: %s", r.status, r.body)
		}
		if r := s.post("/v1/models/demo/activate", `{"version": 9}`, admin...); r.status != http.StatusNotFound {
			t.Errorf("activate unknown version: status %d", r.status)
		}
		r = s.post("/v1/models/demo/rollback", "", admin...)
		r.json(t, &active)
		if r.status != http.StatusOK || active.ActiveVersion != 1 {
			t.Errorf("rollback: status %d: %s", r.status, r.body)
		}
		if r := s.post("/v1/models/demo/rollback", "", admin...); r.status != http.StatusConflict {
			t.Errorf("rollback past the first: status %d: %s", r.status, r.body)
		}
	})

	t.Run("manifest ETag follows the versions", func(t *testing.T) {
		rolledBack := manifestETag(t) // v1 active again, v2 registered
		if r := s.post("/v1/models/demo/activate", `{"version": 2}`, admin...); r.status != http.StatusOK {
			t.Fatalf("activate: status %d", r.status)
		}
		active2 := manifestETag(t)
		if rolledBack == active1 || active2 == rolledBack {
			t.Errorf("ETags %s (v1), %s (v1, v2 added), %s (v2 active): want each different", active1, rolledBack, active2)
		}
		if r := s.get("/v1/models/demo", "If-None-Match", rolledBack); r.status != http.StatusOK {
			t.Errorf("If-None-Match of the manifest before activation: status %d", r.status)
		}
	})

	t.Run("downloads counted", func(t *testing.T) {
		metrics := string(s.get("/metrics").body)
		for _, want := range []string{
			`lambda_serving_model_downloads_total{model="demo",result="not_modified",variant="fp32"} 4`,
			`lambda_serving_model_downloads_total{model="demo",result="ok",variant="int8"} 1`,
			`lambda_serving_model_downloads_total{model="demo",result="ok",variant="manifest"} 5`,
			`lambda_serving_model_downloads_total{model="demo",result="not_modified",variant="manifest"} 3`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

func TestAuth(t *testing.T) {
	t.Run("no admin token configured", func(t *testing.T) {
		s := newStack(t, stackOptions{})
		for _, r := range []response{
			s.post("/v1/models/demo/rollback", ""),
			s.post("/v1/models/demo/rollback", "", admin...),
			s.post("/v1/batch/runs", ""),
		} {
			if msg := r.errorText(t); r.status != http.StatusForbidden || !strings.Contains(msg, "LAMBDA_ADMIN_TOKEN") {
				t.Errorf("status %d %q; want 403 naming LAMBDA_ADMIN_TOKEN", r.status, msg)
			}
		}
		if r := s.get("/v1/models"); r.status != http.StatusOK {
			t.Errorf("reads are open: status %d", r.status)
		}
	})

	t.Run("read token configured", func(t *testing.T) {
		s := newStack(t, stackOptions{cfg: servinglayer.Config{AdminToken: adminToken, ReadToken: readToken}})
		for _, path := range []string{"/v1/models", "/v1/batch/runs", "/v1/entities/x/prediction", "/v2/models/demo"} {
			if r := s.get(path); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s without token: status %d", path, r.status)
			}
			if r := s.get(path, "Authorization", "Bearer wrong"); r.status != http.StatusUnauthorized {
				t.Errorf("%s with a wrong token: status %d", path, r.status)
			}
			for _, token := range []string{readToken, adminToken} {
				if r := s.get(path, "Authorization", "Bearer "+token); r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
					t.Errorf("%s with token %s: status %d", path, token, r.status)
				}
			}
		}
		if r := s.post("/v1/events", validEvent("e", "u")); r.status != http.StatusUnauthorized {
			t.Errorf("ingest without token: status %d", r.status)
		}
		if r := s.post("/v1/models/demo/rollback", "", "Authorization", "Bearer "+readToken); r.status != http.StatusUnauthorized {
			t.Errorf("admin endpoint with the read token: status %d", r.status)
		}
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.yaml", "/v2/health/live", "/v2/health/ready"} {
			if r := s.get(path); r.status != http.StatusOK {
				t.Errorf("%s is open: status %d", path, r.status)
			}
		}
	})
}
