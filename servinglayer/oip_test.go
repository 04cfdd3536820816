package servinglayer_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// inferBody is an OIP infer request of rows.
func inferBody(name string, rows ...[]float32) string {
	var data []float32
	for _, r := range rows {
		data = append(data, r...)
	}
	b, _ := json.Marshal(map[string]any{
		"id":     "req-1",
		"inputs": []any{map[string]any{"name": name, "shape": []int{len(rows), len(rows[0])}, "datatype": "FP32", "data": data}},
	})
	return string(b)
}

func TestOIP(t *testing.T) {
	s := newStack(t, stackOptions{})
	ctx := t.Context()
	lr1, lr2 := logistic(3, 1), logistic(3, -2)
	for _, lr := range []struct {
		name string
		fp32 []byte
	}{{"oip", ortenv.ONNX(t, lr1)}, {"oip", ortenv.ONNX(t, lr2)}, {"idle", ortenv.ONNX(t, lr1)}} {
		if _, err := s.models.Register(ctx, lr.name, []string{"a", "b", "c"}, registry.File{Variant: registry.FP32, ONNX: lr.fp32}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.models.Activate(ctx, "oip", 1); err != nil {
		t.Fatal(err)
	}

	t.Run("server", func(t *testing.T) {
		var md api.OIPServerMetadata
		s.get("/v2").json(t, &md)
		if md.Name != "lambda" || md.Version == "" {
			t.Errorf("server metadata %+v", md)
		}
		if r := s.get("/v2/health/live"); r.status != http.StatusOK || string(r.body) != "{\"live\":true}\n" {
			t.Errorf("live: %d %s", r.status, r.body)
		}
		if r := s.get("/v2/health/ready"); r.status != http.StatusOK || string(r.body) != "{\"ready\":true}\n" {
			t.Errorf("ready: %d %s", r.status, r.body)
		}
	})

	t.Run("model metadata", func(t *testing.T) {
		var md api.OIPModelMetadata
		r := s.get("/v2/models/oip")
		r.json(t, &md)
		want := api.OIPTensorMetadata{Name: "features", Datatype: "FP32", Shape: []int64{-1, 3}}
		if r.status != http.StatusOK || md.Name != "oip" || !slices.Equal(md.Versions, []string{"1", "2"}) || md.Platform != "onnxruntime_onnx" ||
			len(md.Inputs) != 1 || md.Inputs[0].Name != want.Name || !slices.Equal(md.Inputs[0].Shape, want.Shape) ||
			len(md.Outputs) != 1 || md.Outputs[0].Name != "score" || *md.Parameters.Version != "1" {
			t.Errorf("status %d: %s", r.status, r.body)
		}
		r = s.get("/v2/models/oip/versions/2")
		r.json(t, &md)
		if r.status != http.StatusOK || *md.Parameters.Version != "2" || !slices.Equal(*md.Parameters.FeatureNames, []string{"a", "b", "c"}) {
			t.Errorf("version 2: status %d: %s", r.status, r.body)
		}
		for path, want := range map[string]int{"/v2/models/nope": 404, "/v2/models/oip/versions/7": 404, "/v2/models/idle": 404} {
			if r := s.get(path); r.status != want {
				t.Errorf("%s: status %d, want %d", path, r.status, want)
			} else {
				r.errorText(t)
			}
		}
	})

	t.Run("model ready", func(t *testing.T) {
		var ready api.OIPModelReady
		r := s.get("/v2/models/oip/ready")
		r.json(t, &ready)
		if r.status != http.StatusOK || !ready.Ready || *ready.Version != "1" {
			t.Errorf("status %d: %s", r.status, r.body)
		}
		r = s.get("/v2/models/oip/versions/2/ready")
		r.json(t, &ready)
		if r.status != http.StatusOK || !ready.Ready || *ready.Version != "2" {
			t.Errorf("version 2: status %d: %s", r.status, r.body)
		}
		r = s.get("/v2/models/idle/ready") // no active version
		ready = api.OIPModelReady{}
		r.json(t, &ready)
		if r.status != http.StatusServiceUnavailable || ready.Ready || ready.Error == nil {
			t.Errorf("idle: status %d: %s", r.status, r.body)
		}
		if r := s.get("/v2/models/nope/ready"); r.status != http.StatusNotFound {
			t.Errorf("unknown: status %d", r.status)
		}
	})

	rows := [][]float32{{1, 2, 3}, {-1, 0.5, 4}}
	t.Run("infer", func(t *testing.T) {
		var out api.OIPInferResponse
		r := s.post("/v2/models/oip/infer", inferBody("features", rows...))
		r.json(t, &out)
		if r.status != http.StatusOK || out.ModelName != "oip" || *out.ModelVersion != "1" || *out.Id != "req-1" || len(out.Outputs) != 1 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		o := out.Outputs[0]
		if o.Name != "score" || o.Datatype != "FP32" || !slices.Equal(o.Shape, []int64{2}) || len(o.Data) != 2 {
			t.Fatalf("output %+v", o)
		}
		for i, row := range rows {
			if want := lr1.Predict(row); math.Abs(float64(o.Data[i]-want)) > 1e-6 {
				t.Errorf("row %d: score %v, want %v", i, o.Data[i], want)
			}
		}
		r = s.post("/v2/models/oip/versions/2/infer", inferBody("features", rows[0]))
		r.json(t, &out)
		if r.status != http.StatusOK || *out.ModelVersion != "2" || math.Abs(float64(out.Outputs[0].Data[0]-lr2.Predict(rows[0]))) > 1e-6 {
			t.Errorf("version 2: status %d: %s", r.status, r.body)
		}
	})

	t.Run("infer errors", func(t *testing.T) {
		for _, tc := range []struct {
			path, body string
			status     int
			want       string
		}{
			{"/v2/models/nope/infer", inferBody("features", rows[0]), 404, "not found"},
			{"/v2/models/idle/infer", inferBody("features", rows[0]), 404, "no active version"},
			{"/v2/models/oip/versions/9/infer", inferBody("features", rows[0]), 404, "not found"},
			{"/v2/models/oip/infer", inferBody("features", []float32{1, 2}), 400, "takes 3 features"},
			{"/v2/models/oip/infer", inferBody("x", rows[0]), 400, "inputs[0].name"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":[2,3],"datatype":"FP32","data":[1,2,3]}]}`, 400, "inputs[0].data"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":[1,3],"datatype":"BOOL","data":[true,false,true]}]}`, 400, "datatype"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":[3],"datatype":"FP32","data":[1,2,3]}]}`, 400, "shape"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,"x",3]}]}`, 400, "data"},
			{"/v2/models/oip/infer", `{"inputs":[]}`, 400, "inputs"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"outputs":[{"name":"logit"}]}`, 400, "outputs[0].name"},
			{"/v2/models/oip/infer", `{"inputs":`, 400, "body"},
			{"/v2/models/oip/infer", inferBody("features", rows[0]) + ` {}`, 400, "request body"},
			{"/v2/models/oip/infer", `{}`, 400, "inputs"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]},` +
				`{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}`, 400, "inputs"},
			{"/v2/models/oip/infer", `{"inputs":[{"shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}`, 400, "inputs[0].name"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32"}]}`, 400, "inputs[0].data"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","datatype":"FP32","data":[1,2,3]}]}`, 400, "inputs[0].shape"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":[1,3],"data":[1,2,3]}]}`, 400, "inputs[0].datatype"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":["1","3"],"datatype":"FP32","data":[1,2,3]}]}`, 400, "shape"},
			{"/v2/models/oip/infer", `{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,1e39]}]}`, 400, "data"},
			{"/v2/models/oip/infer", `{"id":7,"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}`, 400, "id"},
			{"/v2/models/oip/infer", `{"parameters":5,"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}`, 400, "parameters"},
		} {
			r := s.post(tc.path, tc.body)
			if msg := r.errorText(t); r.status != tc.status || !strings.Contains(msg, tc.want) {
				t.Errorf("%s %s: status %d %q; want %d mentioning %q", tc.path, tc.body, r.status, msg, tc.status, tc.want)
			}
		}
	})

	t.Run("activation swaps the served version", func(t *testing.T) {
		if err := s.models.Activate(ctx, "oip", 2); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "infer with version 2", func() error {
			var out api.OIPInferResponse
			s.post("/v2/models/oip/infer", inferBody("features", rows[0])).json(t, &out)
			if out.ModelVersion == nil || *out.ModelVersion != "2" {
				return fmt.Errorf("version %v", out.ModelVersion)
			}
			return nil
		})
	})
}
