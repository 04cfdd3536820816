package servinglayer_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/api"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// chunked hides a body's length, so only reading it finds out how large it is.
type chunked struct{ io.Reader }

func TestBadRequests(t *testing.T) {
	s := newStack(t, stackOptions{cfg: servinglayer.Config{AdminToken: adminToken}})
	big := strings.Repeat("x", event.MaxBatchBytes+1)
	tooMany := "[" + strings.TrimSuffix(strings.Repeat(validEvent("e", "u")+",", event.MaxBatchEvents+1), ",") + "]"
	for _, tc := range []struct {
		name         string
		method, path string
		body         io.Reader
		header       []string
		status       int
		want         string // in the error
	}{
		{"unknown route", "GET", "/v1/nothing", nil, nil, 404, "no route"},
		{"unknown route under a known one", "GET", "/v1/entities/a/b/c", nil, nil, 404, "no route"},
		{"wrong method", "DELETE", "/v1/models", nil, nil, 405, "Method Not Allowed"},
		{"wrong method on a custom verb", "GET", "/v1/predictions:batchGet", nil, nil, 405, "Method Not Allowed"},
		{"malformed JSON", "POST", "/v1/predictions:batchGet", strings.NewReader(`{"ids": [`), nil, 400, "decode"},
		{"wrong type", "POST", "/v1/predictions:batchGet", strings.NewReader(`{"ids": "a"}`), nil, 400, `"/ids"`},
		{"wrong item type", "POST", "/v1/predictions:batchGet", strings.NewReader(`{"ids": [1]}`), nil, 400, `"/ids/0"`},
		{"empty list", "POST", "/v1/predictions:batchGet", strings.NewReader(`{"ids": []}`), nil, 400, `"/ids"`},
		{"unknown field", "POST", "/v1/predictions:batchGet", strings.NewReader(`{"ids": ["a"], "idz": 1}`), nil, 400, `"idz"`},
		{"missing field", "POST", "/v1/predictions:batchGet", strings.NewReader(`{}`), nil, 400, `"ids"`},
		{"no body", "POST", "/v1/predictions:batchGet", nil, nil, 400, "body"},
		{"not JSON", "POST", "/v1/predictions:batchGet", strings.NewReader(`ids=a`), []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "Content-Type"},
		{"id too long", "GET", entityPath(strings.Repeat("a", 257), "prediction"), nil, nil, 400, `"id"`},
		{"bad query parameter", "GET", "/v1/batch/runs?limit=many", nil, nil, 400, `"limit"`},
		{"query parameter out of range", "GET", "/v1/batch/runs?limit=0", nil, nil, 400, `"limit"`},
		{"bad path parameter", "GET", "/v1/batch/runs/x1", nil, nil, 400, `"id"`},
		{"bad model name", "GET", "/v1/models/bad%20name", nil, nil, 400, `"name"`},
		{"bad version", "GET", "/v1/models/demo/versions/0/fp32.onnx", nil, nil, 400, `"version"`},
		{"wrong type, admin", "POST", "/v1/models/demo/activate", strings.NewReader(`{"version": "1"}`), admin, 400, `"/version"`},
		{"events not JSON", "POST", "/v1/events", strings.NewReader(`{"event_id": `), nil, 400, "decode"},
		{"events neither object nor array", "POST", "/v1/events", strings.NewReader(`"event"`), nil, 400, "must be an object"},
		{"event body too large", "POST", "/v1/events", strings.NewReader(big), nil, 413, "Too Large"},
		{"event body too large, chunked", "POST", "/v1/events", chunked{strings.NewReader(big)}, nil, 413, "Too Large"},
		{"too many events", "POST", "/v1/events", strings.NewReader(tooMany), nil, 413, "more than 1000"},
		{"batchGet body too large", "POST", "/v1/predictions:batchGet", strings.NewReader(big), nil, 413, "Too Large"},
		{"infer body too large, chunked", "POST", "/v2/models/m/infer", chunked{strings.NewReader(big)}, nil, 413, "Too Large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, tc.body, tc.header...)
			msg := r.errorText(t)
			if r.status != tc.status || !strings.Contains(msg, tc.want) {
				t.Errorf("status %d %q; want %d mentioning %s", r.status, msg, tc.status, tc.want)
			}
			if r.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	s := newStack(t, stackOptions{})
	if r := s.get("/healthz"); r.status != http.StatusOK {
		t.Errorf("healthz: %d", r.status)
	}
	r := s.get("/openapi.yaml")
	if r.status != http.StatusOK || string(r.body) != string(api.Spec) || r.header.Get("Content-Type") != "application/yaml" {
		t.Errorf("openapi.yaml: status %d, %q", r.status, r.header.Get("Content-Type"))
	}
	run := s.publish([]int64{0}, time.Now())
	s.get("/v1/entities/nobody/prediction")
	s.get("/no/such/path")
	r = s.get("/metrics")
	for _, want := range []string{
		`lambda_serving_requests_total{code="404",method="GET",route="/v1/entities/:id/prediction"} 1`,
		`lambda_serving_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`lambda_serving_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`lambda_serving_request_duration_seconds_bucket`,
		`lambda_serving_batch_loads_total{result="ok"} 1`,
		`lambda_serving_batch_store_entities 0`,
		`lambda_serving_view_read_duration_seconds_count{view="speed"} 1`,
		`lambda_serving_served_run_id ` + itoa(run),
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestCompression(t *testing.T) {
	s := newStack(t, stackOptions{})
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = `"entity-` + itoa(int64(i)) + `"`
	}
	for _, tc := range []struct {
		method, path, body string
		gzip               bool
	}{
		{"POST", "/v1/predictions:batchGet", `{"ids": [` + strings.Join(ids, ",") + `]}`, true},
		{"GET", "/openapi.yaml", "", true},
		{"GET", "/v1/entities/entity-1/prediction", "", false}, // small answers are never compressed
		{"GET", "/healthz", "", false},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		// Asking for gzip explicitly turns off the client's transparent decompression.
		r := s.do(tc.method, tc.path, body, "Accept-Encoding", "gzip")
		if got := r.header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
			t.Errorf("%s %s: gzip %v, want %v (status %d)", tc.method, tc.path, got, tc.gzip, r.status)
		}
	}
}

func TestReadiness(t *testing.T) {
	failing := servinglayer.Check{Name: "kafka", Run: func(context.Context) error { return io.ErrUnexpectedEOF }}
	detailed := servinglayer.Check{Name: "mirror", Run: func(context.Context) error { return nil }, Detail: func() string { return "serving m@2" }}
	for _, tc := range []struct {
		checks []servinglayer.Check
		status int
	}{
		{nil, http.StatusOK},
		{[]servinglayer.Check{{Name: "ok", Run: func(context.Context) error { return nil }}, failing}, http.StatusServiceUnavailable},
		{[]servinglayer.Check{detailed}, http.StatusOK},
	} {
		srv, err := servinglayer.NewServer(servinglayer.Deps{Checks: tc.checks}, servinglayer.Config{})
		if err != nil {
			t.Fatal(err)
		}
		s := &stack{t: t, client: http.DefaultClient, url: serve(t, srv)}
		var ready api.Readiness
		r := s.get("/readyz")
		r.json(t, &ready)
		if r.status != tc.status || (tc.status != 200) != (ready.Failing != nil && (*ready.Failing)["kafka"] == io.ErrUnexpectedEOF.Error()) {
			t.Errorf("readyz: status %d: %s", r.status, r.body)
		}
		// Details come from the checks that have them, failing or not.
		if hasDetail := len(tc.checks) == 1; hasDetail != (ready.Details != nil && (*ready.Details)["mirror"] == "serving m@2") {
			t.Errorf("readyz details: %s", r.body)
		}
		// The protocol's readiness is the models' (none here), not the dependencies'.
		if r := s.get("/v2/health/ready"); r.status != http.StatusServiceUnavailable {
			t.Errorf("v2 ready without a model registry: status %d", r.status)
		}
	}
}

// FuzzRequestBodies posts arbitrary bodies to every endpoint that decodes one: whatever
// arrives, the answer is never a 5xx, and errors are {"error": "..."}.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{"ids": ["a", "b"]}`, `{"ids": [1]}`, `[` + validEvent("e", "u") + `]`, validEvent("e", "u"), `{"version": 1}`,
		`{"requested_by": "x"}`, inferBody("features", []float32{1, 2, 3}), `{"inputs":[{"name":"f","shape":[1,-3],"datatype":"FP32","data":[]}]}`,
		`[]`, `{}`, `null`, `"`, "\x00", `{"a":` + strings.Repeat("[", 10000),
	} {
		f.Add(seed)
	}
	srv, err := servinglayer.NewServer(servinglayer.Deps{Predictions: notFound{}, Producer: discard{}}, servinglayer.Config{AdminToken: adminToken})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	paths := []string{"/v1/predictions:batchGet", "/v1/events", "/v1/models/m/activate", "/v1/batch/runs", "/v2/models/m/infer"}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range paths {
			req, _ := http.NewRequest(http.MethodPost, path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+adminToken)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s %q: status %d: %s", path, body, w.Code, w.Body)
			}
			if w.Code >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("%s %q: status %d with body %q", path, body, w.Code, w.Body)
				}
			}
		}
	})
}

// notFound knows no entity; discard accepts every event.
type (
	notFound struct{}
	discard  struct{}
)

func (notFound) Lookup(_ context.Context, ids []string) []predict.Answer {
	out := make([]predict.Answer, len(ids))
	for i, id := range ids {
		out[i] = predict.Answer{EntityID: id, Err: predict.ErrNotFound}
	}
	return out
}

func (notFound) ServedRun() runs.Run { return runs.Run{} }

func (notFound) Ready() error { return nil }

func (discard) WriteEvents(context.Context, []event.Event) error { return nil }
