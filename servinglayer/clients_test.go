package servinglayer_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// TestOfficialClients sends the requests of the official Open Inference Protocol clients
// byte for byte, over a raw TCP connection, and reads the answers as those clients do.
// PyPI is not reachable here, so the bytes are reproduced from the clients' sources:
//
//   - tritonclient.http (triton-inference-server/client, src/python/library/tritonclient/http/):
//     _client.py builds the URI and headers (geventhttpclient's only default header is
//     User-Agent; no Content-Type; Inference-Header-Content-Length when the body has a
//     binary section; Content-Encoding with request_compression_algorithm), _utils.py
//     (_get_inference_request) the body: rapidjson's compact JSON of id, inputs, outputs,
//     parameters (binary_data_output true when no outputs are requested), then each input's
//     raw bytes; _infer_input.py each input (set_data_from_numpy: binary by default,
//     parameters.binary_data_size; data flattened otherwise); _requested_output.py each
//     output (parameters.binary_data, true by default); _infer_result.py reads the answer
//     (Inference-Header-Content-Length, then each output's binary_data_size bytes).
//   - KServe's InferenceRESTClient (kserve/kserve, python/kserve/kserve/inference_client.py
//     and protocol/infer_type.py): httpx's default headers, orjson's compact JSON of id,
//     model_name, inputs, outputs, parameters (InferRequest.to_rest); no Content-Type for
//     all-JSON bodies, "content-type: application/octet-stream" and
//     "inference-header-content-length" with binary inputs; data as given (numpy's
//     tolist() nests rows); the answer is split by inference-header-content-length.
func TestOfficialClients(t *testing.T) {
	s := newStack(t, stackOptions{})
	lr := logistic(3, 1)
	s.activeModel("clf", lr)
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	rows := [][]float32{{1, 2, 3}, {-1, 0.5, 4}}

	// geventhttpclient writes the request line, User-Agent, Host, then the caller's
	// headers and Content-Length of a body.
	triton := func(method, path string, header []string, body []byte) []byte {
		req := method + " " + path + " HTTP/1.1\r\nUser-Agent: python/gevent-http-client-2.3.1\r\nHost: " + host + "\r\n"
		for i := 0; i+1 < len(header); i += 2 {
			req += header[i] + ": " + header[i+1] + "\r\n"
		}
		if body != nil {
			req += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		return append([]byte(req+"\r\n"), body...)
	}
	// httpx writes Host, its default Accept, Accept-Encoding, Connection and User-Agent,
	// Content-Length of a body, then the caller's headers.
	kserve := func(method, path string, header []string, body []byte) []byte {
		req := method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n" +
			"Connection: keep-alive\r\nUser-Agent: python-httpx/0.28.1\r\n"
		if body != nil {
			req += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
		}
		for i := 0; i+1 < len(header); i += 2 {
			req += header[i] + ": " + header[i+1] + "\r\n"
		}
		return append([]byte(req+"\r\n"), body...)
	}

	t.Run("tritonclient metadata and readiness", func(t *testing.T) {
		var md api.OIPServerMetadata // get_server_metadata
		if r := rawRequest(t, host, triton("GET", "/v2", nil, nil)); r.status != 200 || json.Unmarshal(r.body, &md) != nil ||
			md.Name != "lambda" || len(md.Extensions) != 1 || md.Extensions[0] != "binary_tensor_data" {
			t.Errorf("server metadata: %d %s", r.status, r.body)
		}
		var mm api.OIPModelMetadata // get_model_metadata
		if r := rawRequest(t, host, triton("GET", "/v2/models/clf", nil, nil)); r.status != 200 || json.Unmarshal(r.body, &mm) != nil ||
			mm.Inputs[0].Name != "features" || mm.Inputs[0].Datatype != "FP32" {
			t.Errorf("model metadata: %d %s", r.status, r.body)
		}
		// is_server_live, is_server_ready, is_model_ready look at the status only.
		for _, path := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/clf/ready", "/v2/models/clf/versions/1/ready"} {
			if r := rawRequest(t, host, triton("GET", path, nil, nil)); r.status != 200 {
				t.Errorf("%s: %d %s", path, r.status, r.body)
			}
		}
	})

	for _, tc := range []struct {
		name    string
		request []byte
		binary  bool // the answer's output is binary
	}{
		{
			// InferInput("features", [2, 3], "FP32").set_data_from_numpy(x) (binary_data=True),
			// infer("clf", inputs) with no outputs: binary_data_output.
			"tritonclient, binary in and out (the defaults)",
			tritonInfer(triton, "/v2/models/clf/infer", `{"inputs":[{"name":"features","shape":[2,3],"datatype":"FP32","parameters":{"binary_data_size":24}}],`+
				`"parameters":{"binary_data_output":true}}`, le32(rows...)),
			true,
		},
		{
			// set_data_from_numpy(x, binary_data=False), outputs=[InferRequestedOutput("score", binary_data=False)],
			// request_id="r-1", model_version="1"
			"tritonclient, JSON in and out",
			triton("POST", "/v2/models/clf/versions/1/infer", nil, []byte(`{"id":"r-1","inputs":[{"name":"features","shape":[2,3],"datatype":"FP32",`+
				`"data":[1.0,2.0,3.0,-1.0,0.5,4.0]}],"outputs":[{"name":"score","parameters":{"binary_data":false}}]}`)),
			false,
		},
		{
			// JSON input, outputs=[InferRequestedOutput("score")]: binary_data defaults to true.
			"tritonclient, JSON in, requested output binary",
			triton("POST", "/v2/models/clf/infer", nil, []byte(`{"inputs":[{"name":"features","shape":[2,3],"datatype":"FP32",`+
				`"data":[1.0,2.0,3.0,-1.0,0.5,4.0]}],"outputs":[{"name":"score","parameters":{"binary_data":true}}]}`)),
			true,
		},
		{
			// InferInput("features", [2, 3], "FP64") of numpy's default float, binary.
			"tritonclient, FP64 binary",
			tritonInfer(triton, "/v2/models/clf/infer", `{"inputs":[{"name":"features","shape":[2,3],"datatype":"FP64","parameters":{"binary_data_size":48}}],`+
				`"parameters":{"binary_data_output":true}}`, le64(rows...)),
			true,
		},
		{
			// InferInput("features", [2, 3], "INT64"), binary_data=False: numpy ints as JSON integers;
			// the rows are the integer ones.
			"tritonclient, INT64 JSON",
			triton("POST", "/v2/models/clf/infer", nil, []byte(`{"inputs":[{"name":"features","shape":[2,3],"datatype":"INT64",`+
				`"data":[1,2,3,-1,0,4]}],"outputs":[{"name":"score","parameters":{"binary_data":false}}]}`)),
			false,
		},
		{
			// infer(..., request_compression_algorithm="gzip"): Content-Encoding gzip.
			"tritonclient, gzip request body",
			triton("POST", "/v2/models/clf/infer", []string{"Content-Encoding", "gzip"}, gzipped(`{"inputs":[{"name":"features","shape":[2,3],`+
				`"datatype":"FP32","data":[1.0,2.0,3.0,-1.0,0.5,4.0]}],"outputs":[{"name":"score","parameters":{"binary_data":false}}]}`)),
			false,
		},
		{
			// InferRequest(model_name="clf", infer_inputs=[InferInput("features", [2, 3], "FP64", data=x.tolist())]):
			// nested rows, no Content-Type.
			"kserve, FP64 nested JSON",
			kserve("POST", "/v2/models/clf/infer", nil, []byte(`{"id":"0b9f7d0e-6f0a-4c1b-9a5e-0d6c1f2e3a4b","model_name":"clf",`+
				`"inputs":[{"name":"features","shape":[2,3],"datatype":"FP64","data":[[1.0,2.0,3.0],[-1.0,0.5,4.0]]}]}`)),
			false,
		},
		{
			// InferInput("features", [2, 3], "INT64", data=x.tolist()), nested integers.
			"kserve, INT64 nested JSON",
			kserve("POST", "/v2/models/clf/infer", nil, []byte(`{"id":"1c2d","model_name":"clf",`+
				`"inputs":[{"name":"features","shape":[2,3],"datatype":"INT64","data":[[1,2,3],[-1,0,4]]}]}`)),
			false,
		},
		{
			// set_data_from_numpy(x) (binary), request_outputs=[RequestedOutput("score", {"binary_data": True})].
			"kserve, binary in and out",
			kserveInfer(kserve, "/v2/models/clf/infer", `{"id":"2d3e","model_name":"clf","inputs":[{"name":"features","shape":[2,3],`+
				`"datatype":"FP32","parameters":{"binary_data_size":24}}],"outputs":[{"name":"score","parameters":{"binary_data":true}}]}`, le32(rows...)),
			true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawRequest(t, host, tc.request)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			scores := clientScores(t, r, tc.binary)
			want := rows
			if strings.Contains(tc.name, "INT64") {
				want = [][]float32{{1, 2, 3}, {-1, 0, 4}}
			}
			checkScores(t, lr, want, scores)
		})
	}

	t.Run("kserve readiness", func(t *testing.T) {
		for path, field := range map[string]string{"/v2/health/ready": "ready", "/v2/health/live": "live", "/v2/models/clf/ready": "ready"} {
			r := rawRequest(t, host, kserve("GET", path, nil, nil))
			var v map[string]any
			if r.status != 200 || json.Unmarshal(r.body, &v) != nil || v[field] != true {
				t.Errorf("%s: %d %s", path, r.status, r.body)
			}
		}
	})

	t.Run("errors as the clients read them", func(t *testing.T) {
		// tritonclient's _get_error reads "error" of any non-200; KServe's
		// _construct_http_status_error only when the Content-Type is exactly application/json.
		r := rawRequest(t, host, kserve("POST", "/v2/models/clf/infer", nil, []byte(`{"id":"x","model_name":"clf",`+
			`"inputs":[{"name":"features","shape":[1,3],"datatype":"BYTES","data":["a","b","c"]}]}`)))
		var e struct{ Error, Code string }
		if r.status != 400 || r.header.Get("Content-Type") != "application/json" || json.Unmarshal(r.body, &e) != nil ||
			!strings.Contains(e.Error, "BYTES") || e.Code != "unsupported_datatype" {
			t.Errorf("BYTES input: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
		}
	})
}

// tritonInfer is tritonclient's infer request of a JSON header and a binary section.
func tritonInfer(triton func(string, string, []string, []byte) []byte, path, header string, section []byte) []byte {
	return triton("POST", path, []string{"Inference-Header-Content-Length", strconv.Itoa(len(header))}, append([]byte(header), section...))
}

// kserveInfer is InferenceRESTClient's infer request of a JSON header and a binary section.
func kserveInfer(kserve func(string, string, []string, []byte) []byte, path, header string, section []byte) []byte {
	return kserve("POST", path, []string{"inference-header-content-length", strconv.Itoa(len(header)), "content-type", "application/octet-stream"},
		append([]byte(header), section...))
}

// clientScores reads the scores of an infer answer as tritonclient's InferResult and
// KServe's InferResponse.from_bytes do; wantBinary says whether the output must be binary.
func clientScores(t *testing.T, r response, wantBinary bool) []float32 {
	t.Helper()
	header := r.body
	length := r.header.Get("Inference-Header-Content-Length")
	if length != "" {
		n, err := strconv.Atoi(length)
		if err != nil || n > len(r.body) {
			t.Fatalf("Inference-Header-Content-Length %q of a %d-byte body", length, len(r.body))
		}
		header = r.body[:n]
	}
	var out api.OIPInferResponse
	if err := json.Unmarshal(header, &out); err != nil || len(out.Outputs) != 1 {
		t.Fatalf("answer %q: %v", header, err)
	}
	o := out.Outputs[0]
	isBinary := o.Parameters != nil && o.Parameters.BinaryDataSize != nil
	if isBinary != wantBinary || wantBinary != (length != "") || o.Datatype != "FP32" {
		t.Fatalf("binary %v, want %v: headers %v, answer %q", isBinary, wantBinary, r.header, header)
	}
	if !wantBinary {
		return o.Data
	}
	section := r.body[len(header):]
	if int64(len(section)) != *o.Parameters.BinaryDataSize || o.Data != nil || len(section) != 4*int(o.Shape[0]) {
		t.Fatalf("binary section of %d bytes, output %+v", len(section), o)
	}
	scores := make([]float32, len(section)/4)
	for i := range scores {
		scores[i] = math.Float32frombits(binary.LittleEndian.Uint32(section[4*i:]))
	}
	return scores
}

func checkScores(t *testing.T, lr onnxmodel.LogisticRegression, rows [][]float32, scores []float32) {
	t.Helper()
	if len(scores) != len(rows) {
		t.Fatalf("%d scores for %d rows", len(scores), len(rows))
	}
	for i, row := range rows {
		if want := lr.Predict(row); math.Abs(float64(scores[i]-want)) > 1e-6 {
			t.Errorf("row %d: score %v, want %v", i, scores[i], want)
		}
	}
}

// rawRequest writes raw to a new connection to host and reads the answer.
func rawRequest(t *testing.T, host string, raw []byte) response {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// le32 and le64 are rows as numpy's tobytes() of float32 and float64 arrays.
func le32(rows ...[]float32) []byte {
	var b []byte
	for _, r := range rows {
		for _, v := range r {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	return b
}

func le64(rows ...[]float32) []byte {
	var b []byte
	for _, r := range rows {
		for _, v := range r {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(v)))
		}
	}
	return b
}

// gzipped is gzip.compress(body), as tritonclient sends it.
func gzipped(body string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(body))
	_ = w.Close()
	return b.Bytes()
}
