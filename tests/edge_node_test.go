package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/testenv"
)

const (
	edgeModel = "demo"
	edgePoll  = 200 * time.Millisecond
	// edgeSwapSlack is how long after the poll interval a new version may take to be
	// downloaded, verified, loaded and swapped in.
	edgeSwapSlack = 2 * time.Second
	// edgeLoadRequests is how many infer requests each server answers per round of the
	// latency comparison, from edgeLoadWorkers concurrent clients in the test process.
	edgeLoadRequests = 2000
	edgeLoadRounds   = 3
	edgeLoadWorkers  = 4
)

// TestEdgeNode runs a real upstream (`lambda up`) and a real edge node (`lambda edge`,
// the real ONNX Runtime) with a test proxy between them that can flip bytes of model
// files in transit:
//
//  1. the node mirrors the active version: its infer answers what the central API
//     answers (JSON and the binary tensor extension), its downloads have the upstream's
//     bytes and ETags, bad input gets a clear 4xx; the latency of both is measured;
//  2. a new version activated while the proxy corrupts model files is refused
//     (lambda_edge_sync_errors_total{reason="checksum"}) and the old one keeps serving;
//     once the files arrive intact the node swaps within its poll interval;
//  3. upstream stopped: the node keeps answering with the last model, /readyz stays
//     200 with the sync age, and a restarted node serves from disk;
//  4. upstream back with a new active version: the node swaps within its poll interval.
func TestEdgeNode(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, env, _ := freshPlatform(t)
	run(t, ctx, env, "migrate")
	for seed := range 3 { // versions 1 (active), 2 and 3
		args := []string{"model", "train", "--name", edgeModel, "--kind", "lr", "--events", "20000", "--seed", strconv.Itoa(seed + 1)}
		if seed == 0 {
			args = append(args, "--activate")
		}
		run(t, ctx, env, args...)
	}
	trained := time.Since(began)

	upAddr := freeAddr(t)
	upEnv := append(slices.Clip(env), "LAMBDA_HTTP_ADDR="+upAddr, "LAMBDA_MODEL="+edgeModel)
	up := start(t, upEnv, "up")
	central := "http://" + upAddr
	waitReady(t, central, time.Minute)

	proxy := newCorruptingProxy(t, central)
	edgeAddr, edgeDir := freeAddr(t), t.TempDir()
	edgeEnv := append(slices.Clip(env), "LAMBDA_HTTP_ADDR="+edgeAddr, "LAMBDA_DATA_DIR="+edgeDir,
		"LAMBDA_EDGE_UPSTREAM="+proxy.URL, "LAMBDA_EDGE_POLL="+edgePoll.String())
	node := start(t, edgeEnv, "edge")
	edge := "http://" + edgeAddr
	waitReady(t, edge, 30*time.Second)

	// 1. The mirrored version answers as the central API does.
	md := modelMetadata(t, edge)
	if md.Parameters.Version != "1" {
		t.Fatalf("edge GET /v2/models/%s: version %q, want 1", edgeModel, md.Parameters.Version)
	}
	rows := edgeRows(md.width(), 8)
	for _, server := range []string{central, edge} {
		checkBinaryInfer(t, server, md, rows)
	}
	want := inferJSON(t, central, md, rows)
	if got := inferJSON(t, edge, md, rows); got.version != "1" || !slices.Equal(got.scores, want.scores) {
		t.Fatalf("edge infer = v%s %v, central = v%s %v; want the same version and scores", got.version, got.scores, want.version, want.scores)
	}
	for _, variant := range []string{"fp32", "int8"} {
		path := fmt.Sprintf("/v1/models/%s/versions/1/%s.onnx", edgeModel, variant)
		_, upHdr, upBody := call(t, http.MethodGet, central+path, "", nil, nil)
		code, hdr, body := call(t, http.MethodGet, edge+path, "", nil, nil)
		if code != http.StatusOK || !bytes.Equal(body, upBody) || hdr.Get("ETag") != upHdr.Get("ETag") {
			t.Fatalf("edge GET %s = %d, %d bytes, ETag %s; want 200 and the upstream's %d bytes, ETag %s", path, code, len(body), hdr.Get("ETag"), len(upBody), upHdr.Get("ETag"))
		}
		if code, _, _ := call(t, http.MethodGet, edge+path, "", http.Header{"If-None-Match": {hdr.Get("ETag")}}, nil); code != http.StatusNotModified {
			t.Errorf("edge GET %s with its ETag = %d, want 304", path, code)
		}
	}
	checkEdgeBadInput(t, edge, md)
	var edgeTook, centralTook, floorTook []time.Duration
	infer := inferBody(md, rows[:1])
	for range edgeLoadRounds { // alternated, so all see the same machine
		edgeTook = append(edgeTook, latencies(t, func() int { code, _ := postInfer(edge, infer); return code })...)
		centralTook = append(centralTook, latencies(t, func() int { code, _ := postInfer(central, infer); return code })...)
		floorTook = append(floorTook, latencies(t, func() int { return statusOf(edge + "/v2/health/live") })...)
	}
	t.Logf("infer latency, 1 row, %d JSON requests each in %d alternated rounds from %d concurrent clients in the test process (a Go loop): "+
		"edge node p50 %.3f ms p99 %.3f ms; central API p50 %.3f ms p99 %.3f ms; HTTP floor (edge GET /v2/health/live) p50 %.3f ms p99 %.3f ms",
		edgeLoadRounds*edgeLoadRequests, edgeLoadRounds, edgeLoadWorkers,
		ms(percentileOf(edgeTook, 0.5)), ms(percentileOf(edgeTook, 0.99)), ms(percentileOf(centralTook, 0.5)), ms(percentileOf(centralTook, 0.99)),
		ms(percentileOf(floorTook, 0.5)), ms(percentileOf(floorTook, 0.99)))

	// 2. A corrupted download is refused; the intact one is swapped in.
	proxy.corrupt.Store(true)
	run(t, ctx, env, "model", "activate", "--name", edgeModel, "--version", "2")
	testenv.WaitFor(t, 10*time.Second, "a checksum sync error", func() bool { return edgeMetric(t, edge, `lambda_edge_sync_errors_total{reason="checksum"}`) >= 1 })
	if got := inferJSON(t, edge, md, rows); got.version != "1" || !slices.Equal(got.scores, want.scores) {
		t.Fatalf("edge infer after a corrupted download = v%s %v, want v1 %v", got.version, got.scores, want.scores)
	}
	if code, body := get(t, edge+"/readyz"); code != http.StatusOK || !strings.Contains(body, "sha256") {
		t.Fatalf("edge /readyz after a corrupted download = %d %s, want 200 naming the sha256 mismatch", code, body)
	}
	proxy.corrupt.Store(false)
	swap := waitVersion(t, edge, md, "2", edgePoll+edgeSwapSlack)
	want = inferJSON(t, central, md, rows)
	if got := inferJSON(t, edge, md, rows); !slices.Equal(got.scores, want.scores) {
		t.Fatalf("edge infer of v2 = %v, central = %v", got.scores, want.scores)
	}
	t.Logf("intact files again: swapped to v2 in %v (poll %v)", swap.Round(time.Millisecond), edgePoll)

	// 3. Upstream stopped: the last model keeps answering, and after a restart too.
	up.stop(t, 30*time.Second)
	stopped := time.Now()
	testenv.WaitFor(t, 10*time.Second, "an unreachable sync error", func() bool { return edgeMetric(t, edge, `lambda_edge_sync_errors_total{reason="unreachable"}`) >= 1 })
	for range 20 {
		if got := inferJSON(t, edge, md, rows); got.version != "2" || !slices.Equal(got.scores, want.scores) {
			t.Fatalf("edge infer with the upstream stopped = v%s %v, want v2 %v", got.version, got.scores, want.scores)
		}
	}
	time.Sleep(time.Second)
	code, body := get(t, edge+"/readyz")
	if age := edgeMetric(t, edge, "lambda_edge_last_sync_age_seconds"); code != http.StatusOK || !strings.Contains(body, "demo@2") || age < time.Since(stopped).Seconds()-1 {
		t.Fatalf("edge /readyz with the upstream stopped = %d %s, sync age %.1fs; want 200 serving demo@2 and an age of about %.1fs", code, body, age, time.Since(stopped).Seconds())
	}
	t.Logf("upstream stopped: /readyz %s", body)
	node.stop(t, 10*time.Second)
	restarted := time.Now()
	node = start(t, edgeEnv, "edge")
	waitReady(t, edge, 10*time.Second)
	fromDisk := time.Since(restarted)
	if got := inferJSON(t, edge, md, rows); got.version != "2" || !slices.Equal(got.scores, want.scores) {
		t.Fatalf("restarted edge infer with the upstream stopped = v%s %v, want v2 from disk", got.version, got.scores)
	}
	t.Logf("restarted with the upstream stopped: ready with v2 from disk in %v", fromDisk.Round(time.Millisecond))

	// 4. Upstream back with a new active version.
	run(t, ctx, env, "model", "activate", "--name", edgeModel, "--version", "3")
	up = start(t, upEnv, "up")
	waitReady(t, central, time.Minute)
	swap = waitVersion(t, edge, md, "3", edgePoll+edgeSwapSlack)
	want = inferJSON(t, central, md, rows)
	if got := inferJSON(t, edge, md, rows); !slices.Equal(got.scores, want.scores) {
		t.Fatalf("edge infer of v3 = %v, central = %v", got.scores, want.scores)
	}
	if v := edgeMetric(t, edge, fmt.Sprintf(`lambda_edge_model_version{model=%q}`, edgeModel)); v != 3 {
		t.Errorf("lambda_edge_model_version = %v, want 3", v)
	}
	t.Logf("upstream back with v3 active: swapped %v after the upstream was ready (poll %v)", swap.Round(time.Millisecond), edgePoll)
	node.stop(t, 10*time.Second)
	up.stop(t, 30*time.Second)
	t.Logf("took %v (training 3 versions: %v)", time.Since(began).Round(time.Millisecond), trained.Round(time.Millisecond))
}

// corruptingProxy forwards to the upstream; with corrupt set it flips a byte in the
// middle of every model file, and it drops the connection when the upstream is down,
// as an unreachable host would.
type corruptingProxy struct {
	*httptest.Server
	corrupt atomic.Bool
}

func newCorruptingProxy(t *testing.T, upstream string) *corruptingProxy {
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	p := &corruptingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !p.corrupt.Load() || !strings.HasSuffix(resp.Request.URL.Path, ".onnx") || resp.StatusCode != http.StatusOK {
			return nil
		}
		body := new(bytes.Buffer)
		if _, err := body.ReadFrom(resp.Body); err != nil {
			return err
		}
		_ = resp.Body.Close()
		b := body.Bytes()
		b[len(b)/2] ^= 0xff
		resp.Body = nopCloser{bytes.NewReader(b)}
		return nil
	}
	rp.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	p.Server = httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// freeAddr returns a loopback address with a port free a moment ago, for a server
// that must come back on the same address.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, base string, timeout time.Duration) {
	t.Helper()
	testenv.WaitFor(t, timeout, base+"/readyz = 200", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// edgeModelMetadata is the part of GET /v2/models/{name} the test reads.
type edgeModelMetadata struct {
	Inputs []struct {
		Name  string  `json:"name"`
		Shape []int64 `json:"shape"`
	} `json:"inputs"`
	Outputs []struct {
		Name string `json:"name"`
	} `json:"outputs"`
	Parameters struct {
		Version string `json:"version"`
	} `json:"parameters"`
}

func (m edgeModelMetadata) width() int { return int(m.Inputs[0].Shape[1]) }

func modelMetadata(t *testing.T, base string) edgeModelMetadata {
	t.Helper()
	code, body := get(t, base+"/v2/models/"+edgeModel)
	var md edgeModelMetadata
	if code != http.StatusOK || json.Unmarshal([]byte(body), &md) != nil || len(md.Inputs) != 1 || len(md.Inputs[0].Shape) != 2 || len(md.Outputs) != 1 {
		t.Fatalf("GET %s/v2/models/%s = %d %s", base, edgeModel, code, body)
	}
	return md
}

// edgeRows are n feature rows of width with values like the demo's.
func edgeRows(width, n int) [][]float32 {
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = make([]float32, width)
		for j := range rows[i] {
			rows[i][j] = float32((i+1)*(j+2)%17) * 0.75
		}
	}
	return rows
}

// inferAnswer is an infer response: the model version that answered and its scores.
type inferAnswer struct {
	version string
	scores  []float32
}

// inferJSON scores rows with an all-JSON request, as KServe's REST client sends it.
func inferJSON(t testing.TB, base string, md edgeModelMetadata, rows [][]float32) inferAnswer {
	t.Helper()
	code, body := postInfer(base, inferBody(md, rows))
	var out struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Data []float32 `json:"data"`
		} `json:"outputs"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &out) != nil || len(out.Outputs) != 1 || len(out.Outputs[0].Data) != len(rows) {
		t.Fatalf("POST %s/v2/models/%s/infer = %d %s", base, edgeModel, code, body)
	}
	return inferAnswer{out.ModelVersion, out.Outputs[0].Data}
}

func inferBody(md edgeModelMetadata, rows [][]float32) []byte {
	body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{
		"name": md.Inputs[0].Name, "shape": []int{len(rows), len(rows[0])}, "datatype": "FP32", "data": rows,
	}}})
	return body
}

// postInfer posts body without a Content-Type, as the OIP clients do.
func postInfer(base string, body []byte) (int, []byte) {
	resp, err := http.Post(base+"/v2/models/"+edgeModel+"/infer", "", bytes.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out := new(bytes.Buffer)
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// checkBinaryInfer scores rows with the binary tensor data extension, as tritonclient
// does by default, and checks the binary answer against the JSON one.
func checkBinaryInfer(t *testing.T, base string, md edgeModelMetadata, rows [][]float32) {
	t.Helper()
	var data []byte
	for _, r := range rows {
		for _, v := range r {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
	}
	header := fmt.Sprintf(`{"inputs":[{"name":%q,"shape":[%d,%d],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"outputs":[{"name":%q,"parameters":{"binary_data":true}}]}`,
		md.Inputs[0].Name, len(rows), md.width(), len(data), md.Outputs[0].Name)
	req, err := http.NewRequest(http.MethodPost, base+"/v2/models/"+edgeModel+"/infer", bytes.NewReader(append([]byte(header), data...)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(header)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	n, err := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	if resp.StatusCode != http.StatusOK || err != nil || body.Len() != n+4*len(rows) {
		t.Fatalf("binary infer on %s = %d (header length %q), %d bytes: %s", base, resp.StatusCode, resp.Header.Get("Inference-Header-Content-Length"), body.Len(), body)
	}
	want := inferJSON(t, base, md, rows).scores
	for i := range rows {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(body.Bytes()[n+4*i:])); got != want[i] {
			t.Fatalf("binary infer on %s: row %d scored %v, the JSON answer %v", base, i, got, want[i])
		}
	}
}

// checkEdgeBadInput sends the node requests it must refuse with a clear 4xx.
func checkEdgeBadInput(t *testing.T, edge string, md edgeModelMetadata) {
	t.Helper()
	wide := edgeRows(md.width()+1, 1)
	for _, c := range []struct {
		what, path string
		body       []byte
		code       int
		says       string
	}{
		{"invalid JSON", "/v2/models/" + edgeModel + "/infer", []byte(`{"inputs":[`), http.StatusBadRequest, "error"},
		{"a row of the wrong width", "/v2/models/" + edgeModel + "/infer", inferBody(md, wide), http.StatusBadRequest, "features per row"},
		{"shape and data that disagree", "/v2/models/" + edgeModel + "/infer",
			[]byte(fmt.Sprintf(`{"inputs":[{"name":%q,"shape":[2,%d],"datatype":"FP32","data":[1,2]}]}`, md.Inputs[0].Name, md.width())), http.StatusBadRequest, "error"},
		{"an unknown model", "/v2/models/no-such-model/infer", inferBody(md, edgeRows(md.width(), 1)), http.StatusNotFound, "no verified copy"},
		{"a version the node does not serve", "/v2/models/" + edgeModel + "/versions/2/infer", inferBody(md, edgeRows(md.width(), 1)), http.StatusNotFound, "serves only"},
	} {
		code, _, body := call(t, http.MethodPost, edge+c.path, "", nil, c.body)
		if code != c.code || !strings.Contains(string(body), c.says) {
			t.Errorf("edge POST %s with %s = %d %s; want %d saying %q", c.path, c.what, code, body, c.code, c.says)
		}
	}
	code, _, body := call(t, http.MethodPost, edge+"/v1/models/"+edgeModel+"/activate", "", nil, []byte(`{"version":2}`))
	if code != http.StatusForbidden {
		t.Errorf("edge POST /v1/models/%s/activate = %d %s; want 403 (a node's models change upstream)", edgeModel, code, body)
	}
}

// latencies sends edgeLoadRequests requests from edgeLoadWorkers concurrent clients
// (after a warm-up) and returns their latencies; send returns the status code.
func latencies(t *testing.T, send func() int) []time.Duration {
	t.Helper()
	for range 200 { // warm up connections and sessions
		send()
	}
	took := make([]time.Duration, edgeLoadRequests)
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
	)
	for w := range edgeLoadWorkers {
		wg.Go(func() {
			for i := w; i < edgeLoadRequests; i += edgeLoadWorkers {
				start := time.Now()
				if send() != http.StatusOK {
					failed.Add(1)
				}
				took[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed", n, edgeLoadRequests)
	}
	return took
}

// statusOf GETs url and returns the status code, 0 when there is no answer.
func statusOf(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// percentileOf returns the p quantile of took, which it sorts.
func percentileOf(took []time.Duration, p float64) time.Duration {
	slices.Sort(took)
	return took[int(p*float64(len(took)-1))]
}

// waitVersion waits until the node's infer answers with version and returns how long
// that took.
func waitVersion(t *testing.T, edge string, md edgeModelMetadata, version string, timeout time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	rows := edgeRows(md.width(), 1)
	testenv.WaitFor(t, timeout, "edge infer answers with version "+version, func() bool {
		return inferJSON(t, edge, md, rows).version == version
	})
	return time.Since(began)
}

// edgeMetric reads one sample of the node's /metrics, named with its labels as the
// exposition format prints them; -1 when absent.
func edgeMetric(t *testing.T, base, sample string) float64 {
	t.Helper()
	_, body := get(t, base+"/metrics")
	for line := range strings.SplitSeq(body, "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", sample, line)
			}
			return v
		}
	}
	return -1
}
