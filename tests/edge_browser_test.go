package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/servinglayer/edgeclient"
)

// Tolerances of on-device scores against the server's fp32 scores: fp32 in wasm differs
// from the native runtime only by the order of float operations; INT8 by the weights'
// quantisation.
const (
	edgeFP32Tolerance = 1e-5
	edgeINT8Tolerance = 0.02
	edgeEntities      = 1000
	edgeDemoEntities  = 1100
)

// TestEdgeBrowserClient drives the /edge/ page and its module in headless Chromium
// against a real `lambda up`, through a proxy that records what the browser asks for:
// first load, reload from the cache after a 304, 1,000 entities scored on the device in
// INT8 and fp32 next to the server's scores, a new active version picked up, and a model
// changed in transit refused.
func TestEdgeBrowserClient(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run scripts/services.sh up (apt package chromium)")
	}
	ortWeb, err := filepath.Abs(filepath.Join("..", edgeclient.DefaultRuntimeDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range edgeclient.RuntimeFiles {
		if _, err := os.Stat(filepath.Join(ortWeb, f)); err != nil {
			t.Fatalf("onnxruntime-web: %v; run scripts/services.sh up", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	began := time.Now()

	_, env, _ := freshPlatform(t)
	env = append(env, "LAMBDA_MODEL=demo", "LAMBDA_ORT_WEB_DIR="+ortWeb)
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", strconv.Itoa(edgeEntities), "--seed", "1", "--hidden", "large")
	// The demo's skewed activity can leave an entity without events: more entities than
	// the test scores, and the first edgeEntities with a prediction are the ones scored.
	up := start(t, env, "up", "--demo-events", "30000", "--demo-entities", strconv.Itoa(edgeDemoEntities))
	api := up.waitLine(t, "api", time.Minute)
	testenv.WaitFor(t, time.Minute, "the first batch run", func() bool { return strings.Contains(up.output(), "first batch run done") })
	testenv.WaitFor(t, 30*time.Second, "GET /readyz = 200", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })
	ids := scoredEntities(t, api)
	t.Logf("platform up with %d scored entities in %v", edgeEntities, time.Since(began).Round(time.Millisecond))

	browserTests := time.Now()
	proxy := newEdgeProxy(t, api, false)
	browser := newBrowser(t, chromium)
	page := proxy.url + "/edge/?entity=user-000001"

	t.Run("first load downloads and verifies the model", func(t *testing.T) {
		s := loadPage(t, browser, page)
		if s.State != "scored" || s.ModelSource != "network" || s.ModelVersion != "1" || s.ModelVariant != "int8" {
			t.Fatalf("page: %+v; want scored with v1 int8 from the network", s)
		}
		if s.DownloadBytes == "0" || s.DownloadBytes != s.ModelSize {
			t.Errorf("download size %s bytes, file size %s: want the whole file", s.DownloadBytes, s.ModelSize)
		}
		checkScores(t, s, edgeINT8Tolerance)
		if r := proxy.last(".onnx"); r.status != http.StatusOK || r.ifNoneMatch != "" || !strings.HasSuffix(r.path, "/versions/1/int8.onnx") {
			t.Errorf("model request %+v: want an unconditional GET of v1's int8 file answered 200", r)
		}
		if len(s.Cached) != 1 || !strings.HasSuffix(s.Cached[0], s.ModelSHA256) {
			t.Errorf("cached models %v: want the one of sha256 %s", s.Cached, s.ModelSHA256)
		}
	})

	t.Run("reload is served from the cache after a 304", func(t *testing.T) {
		before := downloads(t, api, "int8", "not_modified")
		s := loadPage(t, browser, page)
		if s.State != "scored" || s.ModelSource != "cache" || s.DownloadBytes != "0" {
			t.Fatalf("page: %+v; want scored with the model from the cache", s)
		}
		checkScores(t, s, edgeINT8Tolerance)
		if r := proxy.last(".onnx"); r.status != http.StatusNotModified || r.ifNoneMatch != `"`+s.ModelSHA256+`"` {
			t.Errorf("model request %+v: want If-None-Match with the sha256 answered 304", r)
		}
		if r := proxy.last("/v1/models/demo"); r.status != http.StatusNotModified || r.ifNoneMatch == "" {
			t.Errorf("manifest request %+v: want revalidated, 304", r)
		}
		if after := downloads(t, api, "int8", "not_modified"); after != before+1 {
			t.Errorf("lambda_serving_model_downloads_total{variant=int8,result=not_modified} went %v → %v; want +1", before, after)
		}
	})

	t.Run("scores agree with the server for 1000 entities", func(t *testing.T) {
		r := scoreAll(t, browser, ids)
		if len(r.Rows) != len(ids) {
			t.Fatalf("%d rows scored, want %d", len(r.Rows), len(ids))
		}
		for i, row := range r.Rows {
			if row.ServerVersion != r.Version {
				t.Fatalf("the server scored %s with v%d, the device with v%d", ids[i], row.ServerVersion, r.Version)
			}
		}
		t.Logf("%d entities' features and server scores fetched in %.0f ms", len(ids), r.FetchMS)
		for i, variant := range edgeVariants {
			var maxDiff float64
			ms := make([]float64, len(r.Rows))
			for j, row := range r.Rows {
				maxDiff = max(maxDiff, math.Abs(row.Device[i]-row.Server))
				ms[j] = row.MS[i]
			}
			slices.Sort(ms)
			blocks := slices.Sorted(slices.Values(r.BlockMS[i]))
			t.Logf("%s: file %d bytes, max |device - server fp32| = %.3g (tolerance %g); on-device inference per call p50 %.1f ms, p99 %.1f ms "+
				"(0.1 ms timer); per call in blocks of 10: p50 %.3f ms, p99 %.3f ms; mean %.3f ms",
				variant.name, r.Sizes[i], maxDiff, variant.tolerance, ms[len(ms)/2], ms[len(ms)*99/100],
				blocks[len(blocks)/2], blocks[len(blocks)*99/100], r.LoopMS[i]/float64(len(ids)))
			if maxDiff > variant.tolerance {
				t.Errorf("%s: max |device - server| = %g, over the tolerance %g", variant.name, maxDiff, variant.tolerance)
			}
		}
	})

	t.Run("a new active version is picked up", func(t *testing.T) {
		run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", strconv.Itoa(edgeEntities), "--seed", "2")
		s := loadPage(t, browser, page)
		if s.State != "scored" || s.ModelVersion != "2" || s.ModelSource != "network" {
			t.Fatalf("page: %+v; want scored with v2 downloaded", s)
		}
		if r := proxy.last(".onnx"); r.status != http.StatusOK || !strings.HasSuffix(r.path, "/versions/2/int8.onnx") {
			t.Errorf("model request %+v: want v2's int8 file answered 200", r)
		}
		if len(s.Cached) != 1 || !strings.HasSuffix(s.Cached[0], s.ModelSHA256) {
			t.Errorf("cached models %v: want only v2's, sha256 %s", s.Cached, s.ModelSHA256)
		}
	})

	t.Run("a model changed in transit is refused", func(t *testing.T) {
		tampering := newEdgeProxy(t, api, true) // another origin: an empty cache
		s := loadPage(t, browser, tampering.url+"/edge/?entity=user-000001")
		if s.State != "error" || s.ErrorKind != "verification" || !s.ErrorVisible || !strings.Contains(s.Error, "sha256") {
			t.Fatalf("page: %+v; want a visible verification error", s)
		}
		if s.DeviceScore != "" || s.Sessions != 0 || len(s.Cached) != 0 {
			t.Errorf("refused model used: device score %q, %d sessions, cached %v", s.DeviceScore, s.Sessions, s.Cached)
		}
		if r := tampering.last(".onnx"); !r.tampered {
			t.Errorf("model request %+v: the proxy did not change it", r)
		}
		t.Logf("visible error: %s", s.Error)
	})
	t.Logf("browser tests took %v (%v with the platform's start)", time.Since(browserTests).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// edgePage is what the /edge/ page shows.
type edgePage struct {
	State         string   `json:"state"`
	DeviceScore   string   `json:"deviceScore"`
	ServerScore   string   `json:"serverScore"`
	InferenceMS   string   `json:"inferenceMs"`
	ModelVersion  string   `json:"modelVersion"`
	ModelVariant  string   `json:"modelVariant"`
	ModelSource   string   `json:"modelSource"`
	DownloadBytes string   `json:"downloadBytes"`
	ModelSize     string   `json:"modelSize"`
	ModelSHA256   string   `json:"modelSha256"`
	Error         string   `json:"error"`
	ErrorKind     string   `json:"errorKind"`
	ErrorVisible  bool     `json:"errorVisible"`
	Sessions      int      `json:"sessions"`
	Cached        []string `json:"cached"`
}

// pageState waits until the page has scored or failed and reads it from the DOM.
const pageState = `(async () => {
  const deadline = Date.now() + 20000;
  const state = () => document.getElementById('status')?.dataset.state;
  while (!['scored', 'error'].includes(state()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const e = document.getElementById('error');
  const cache = await caches.open('lambda-edge-models');
  return {
    ...document.getElementById('result').dataset, state: state(),
    error: e.hidden ? '' : e.textContent, errorKind: e.dataset.kind ?? '', errorVisible: !e.hidden && e.offsetParent !== null,
    sessions: window.edgeClient?.sessionsCreated ?? -1,
    cached: (await cache.keys()).map((r) => r.url).filter((u) => u.includes('/sha256/')),
  };
})()`

func loadPage(t *testing.T, browser context.Context, url string) edgePage {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	s, err := chromedp.Run(ctx, chromedp.Evaluate[edgePage](pageState, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return s
}

// checkScores compares the page's on-device score with the server's.
func checkScores(t *testing.T, s edgePage, tolerance float64) {
	t.Helper()
	device, err1 := strconv.ParseFloat(s.DeviceScore, 64)
	server, err2 := strconv.ParseFloat(s.ServerScore, 64)
	if err1 != nil || err2 != nil || math.Abs(device-server) > tolerance {
		t.Errorf("on-device score %q, server score %q: want within %g", s.DeviceScore, s.ServerScore, tolerance)
	}
}

// edgeVariants are the variants scored on the device, with their tolerance.
var edgeVariants = []struct {
	name      string
	tolerance float64
}{{"int8", edgeINT8Tolerance}, {"fp32", edgeFP32Tolerance}}

// edgeScores are the module's scores of many entities in one page session, by variant
// in the order of edgeVariants.
type edgeScores struct {
	Version int64     `json:"version"`
	Sizes   []int64   `json:"sizes"`
	FetchMS float64   `json:"fetchMs"`
	LoopMS  []float64 `json:"loopMs"` // scoring every entity one after the other
	// BlockMS are the mean inference times of blocks of 10 entities: performance.now()
	// has a resolution of 0.1 ms in a page that is not cross-origin isolated.
	BlockMS [][]float64 `json:"blockMs"`
	Rows    []struct {
		Device        []float64 `json:"device"`
		MS            []float64 `json:"ms"`
		Server        float64   `json:"server"`
		ServerVersion int64     `json:"serverVersion"`
	} `json:"rows"`
}

// scoredEntities returns the first edgeEntities demo entities the platform has a
// prediction for.
func scoredEntities(t *testing.T, api string) []string {
	t.Helper()
	var found []string
	for from := 0; from < edgeDemoEntities; from += 500 {
		ids := make([]string, 0, 500)
		for i := from; i < min(from+500, edgeDemoEntities); i++ {
			ids = append(ids, fmt.Sprintf("user-%06d", i))
		}
		body, _ := json.Marshal(map[string][]string{"ids": ids})
		code, _, out := call(t, http.MethodPost, api+"/v1/predictions:batchGet", "", nil, body)
		var got struct {
			Predictions []struct {
				EntityID string `json:"entity_id"`
			} `json:"predictions"`
		}
		if code != http.StatusOK || json.Unmarshal(out, &got) != nil {
			t.Fatalf("batchGet of demo entities: %d %.300s", code, out)
		}
		for _, p := range got.Predictions {
			found = append(found, p.EntityID)
		}
	}
	slices.Sort(found)
	if len(found) < edgeEntities {
		t.Fatalf("%d of the %d demo entities have a prediction, want at least %d", len(found), edgeDemoEntities, edgeEntities)
	}
	return found[:edgeEntities]
}

// scoreAll scores ids in the browser with the module, once per variant: the features (8
// requests at a time) and the server's predictions (one batchGet) are fetched first, so
// the scoring loop times inference alone.
func scoreAll(t *testing.T, browser context.Context, ids []string) edgeScores {
	t.Helper()
	idsJSON, _ := json.Marshal(ids)
	variants := make([]string, len(edgeVariants))
	for i, v := range edgeVariants {
		variants[i] = v.name
	}
	variantsJSON, _ := json.Marshal(variants)
	script := fmt.Sprintf(`(async (ids, variants) => {
  const { EdgeClient } = await import('/edge/edge.js');
  const clients = variants.map((variant) => new EdgeClient({ variant, cacheName: 'agreement-' + variant }));
  const infos = [];
  for (const c of clients) infos.push(await c.load());
  const t0 = performance.now();
  const fetched = new Array(ids.length);
  let next = 0;
  const [predictions] = await Promise.all([
    clients[0].predictions(ids),
    Promise.all(Array.from({ length: 8 }, async () => {
      while (next < ids.length) {
        const i = next++;
        fetched[i] = await clients[0].features(ids[i]);
      }
    })),
  ]);
  const fetchMs = performance.now() - t0;
  const byId = new Map(predictions.predictions.map((p) => [p.entity_id, p]));
  const rows = ids.map((id) => ({ device: [], ms: [], server: byId.get(id)?.score, serverVersion: byId.get(id)?.model_version }));
  const loopMs = [], blockMs = [];
  for (const c of clients) {
    for (let k = 0; k < 20; k++) await c.score(fetched[0].vector); // warm up the session and the loop
    const start = performance.now();
    const blocks = [];
    for (let i = 0; i < ids.length; i += 10) {
      const b0 = performance.now();
      for (let j = i; j < Math.min(i + 10, ids.length); j++) {
        const r = await c.score(fetched[j].vector);
        rows[j].device.push(r.score);
        rows[j].ms.push(r.ms);
      }
      blocks.push((performance.now() - b0) / 10);
    }
    loopMs.push(performance.now() - start);
    blockMs.push(blocks);
  }
  return { version: infos[0].version, sizes: infos.map((i) => i.sizeBytes), fetchMs, loopMs, blockMs, rows };
})(%s, %s)`, idsJSON, variantsJSON)
	ctx, cancel := context.WithTimeout(browser, time.Minute)
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.Evaluate[edgeScores](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("score %d entities: %v", len(ids), err)
	}
	return r
}

// newBrowser starts headless Chromium with a fresh profile; it stops at cleanup.
func newBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// edgeProxy is a reverse proxy in front of the API that records the requests it passes
// and, tampering, changes one byte of every model file it hands out.
type edgeProxy struct {
	url      string
	tamper   bool
	mu       sync.Mutex
	requests []proxied
}

type proxied struct {
	path        string
	ifNoneMatch string
	status      int
	tampered    bool
}

func newEdgeProxy(t *testing.T, api string, tamper bool) *edgeProxy {
	target, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	p := &edgeProxy{tamper: tamper}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(res *http.Response) error {
		r := proxied{path: res.Request.URL.Path, ifNoneMatch: res.Request.Header.Get("If-None-Match"), status: res.StatusCode}
		if p.tamper && res.StatusCode == http.StatusOK && strings.HasSuffix(r.path, ".onnx") {
			body, err := io.ReadAll(res.Body)
			if err != nil {
				return err
			}
			res.Body.Close()
			body[len(body)/2] ^= 0xff
			res.Body = io.NopCloser(bytes.NewReader(body))
			r.tampered = true
		}
		p.mu.Lock()
		p.requests = append(p.requests, r)
		p.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// last returns the newest request whose path contains part.
func (p *edgeProxy) last(part string) proxied {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.requests) - 1; i >= 0; i-- {
		if strings.Contains(p.requests[i].path, part) {
			return p.requests[i]
		}
	}
	return proxied{}
}

// downloads reads lambda_serving_model_downloads_total of the demo model's variant and
// result from /metrics.
func downloads(t *testing.T, api, variant, result string) float64 {
	t.Helper()
	_, text := get(t, api+"/metrics")
	for line := range strings.SplitSeq(text, "\n") {
		name, value, ok := strings.Cut(line, " ")
		if ok && strings.HasPrefix(name, "lambda_serving_model_downloads_total{") && strings.Contains(name, `model="demo"`) &&
			strings.Contains(name, `variant="`+variant+`"`) && strings.Contains(name, `result="`+result+`"`) {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}
