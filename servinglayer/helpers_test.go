package servinglayer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/predict"
	"github.com/lambda-platform/lambda/servinglayer/scoring"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(loadEnv); spec != "" { // BenchmarkServing's load generator
		if err := generateLoadMain(spec); err != nil {
			fmt.Fprintln(os.Stderr, "load generator:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	ortenv.Main(m)
}

// Tokens the tests configure.
const (
	adminToken = "admin-secret"
	readToken  = "read-secret"
)

// featureNames are the names of the default spec, the width of the views' vectors.
var featureNames = features.DefaultSpec().FeatureNames()

type stackOptions struct {
	cfg servinglayer.Config
	// proxies puts PostgreSQL and ClickHouse behind proxies the test can cut.
	proxies bool
	// kafka gives the API a producer on a fresh topic of an embedded broker.
	kafka   bool
	trigger servinglayer.BatchTrigger
}

// stack is the API on real servers, with direct connections for the test's setup.
type stack struct {
	t       testing.TB
	pg      *pgxpool.Pool
	ch      driver.Conn
	pgURL   string
	db      string
	pgProxy *proxy
	chProxy *proxy
	preds   *predict.Service
	models  *registry.Registry
	gather  prometheus.Gatherer
	brokers []string
	topic   string
	url     string
	handler http.Handler
	client  *http.Client
}

func newStack(t testing.TB, opts stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	pool, pgURL := testenv.Postgres(t)
	ch, db := testenv.ClickHouse(t)
	s := &stack{t: t, pg: pool, pgURL: pgURL, ch: ch, db: db, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
	servePG, serveCH := pool, testenv.ClickHouseStream(db)
	if opts.proxies {
		u, err := url.Parse(pgURL)
		if err != nil {
			t.Fatal(err)
		}
		s.pgProxy = newProxy(t, u.Host)
		u.Host = s.pgProxy.addr
		if servePG, err = store.OpenPostgres(ctx, u.String()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(servePG.Close)
		s.chProxy = newProxy(t, serveCH.Addr)
		serveCH.Addr = s.chProxy.addr
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	s.gather = reg
	published := runs.NewReader(servePG)
	s.preds = predict.New(views.NewBatch(serveCH, db), views.NewSpeed(servePG), published,
		predict.Config{LookupTimeout: 2 * time.Second, RunPoll: 200 * time.Millisecond}, log, reg)
	if err := s.preds.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.preds.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	s.models = registry.New(servePG, log)
	scorers := scoring.New(s.models, scoring.Options{Logger: log, Registerer: reg})
	t.Cleanup(func() { _ = scorers.Close() })

	deps := servinglayer.Deps{
		Log: log, Gatherer: reg, Registerer: reg,
		Predictions: s.preds, Runs: published, Models: s.models, Scorers: scorers, Trigger: opts.trigger,
		FeatureNames: featureNames,
	}
	if opts.kafka {
		s.brokers = testenv.Kafka(t)
		s.topic = testenv.Topic(t, s.brokers, 3)
		w, err := kafka.NewWriter(s.brokers, s.topic)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = w.Close() })
		deps.Producer = w
	}
	srv, err := servinglayer.NewServer(deps, opts.cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.handler = srv.Handler()
	s.url = serve(t, srv)
	return s
}

// serve runs srv on a test server and returns its URL.
func serve(t testing.TB, srv *servinglayer.Server) string {
	t.Helper()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v.
func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorText returns the {"error": "..."} of the answer, failing the test without one.
func (r response) errorText(t testing.TB) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("status %d: body %q is not {\"error\": \"...\"}", r.status, r.body)
	}
	return e.Error
}

// do sends a request; header holds name, value pairs. A body of JSON is sent as such.
func (s *stack) do(method, path string, body io.Reader, header ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (s *stack) get(path string, header ...string) response {
	return s.do(http.MethodGet, path, nil, header...)
}

func (s *stack) post(path, body string, header ...string) response {
	return s.do(http.MethodPost, path, strings.NewReader(body), header...)
}

// publish records a run with cutoff offsets and event time and the batch view rows,
// publishes it, and makes the API serve it.
func (s *stack) publish(offsets []int64, cutoff time.Time, rows ...predict.BatchRow) int64 {
	s.t.Helper()
	id := s.record(offsets, cutoff, rows...)
	if err := s.preds.Sync(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	return id
}

// record writes and publishes a run as publish does, but leaves the API to notice it.
func (s *stack) record(offsets []int64, cutoff time.Time, rows ...predict.BatchRow) int64 {
	s.t.Helper()
	ctx := context.Background()
	run, err := runs.Start(ctx, s.pg, runs.TriggerCLI, "test")
	if err != nil {
		s.t.Fatal(err)
	}
	s.batchRows(run.ID, rows...)
	if err := runs.SetCutoff(ctx, s.pg, run.ID, runs.Cutoff{Offsets: offsets, Imported: -1, EventTime: cutoff, ModelName: "demo", ModelVersion: 1}); err != nil {
		s.t.Fatal(err)
	}
	n := int64(len(rows))
	if _, err := runs.Publish(ctx, s.pg, run.ID, runs.Counts{EventsRead: 100, EntitiesScored: n, RowsWritten: n}); err != nil {
		s.t.Fatal(err)
	}
	return run.ID
}

// batchRows writes rows of run into batch_view as a batch run does.
func (s *stack) batchRows(run int64, rows ...predict.BatchRow) {
	s.t.Helper()
	recs := make([]views.Record, len(rows))
	for i, r := range rows {
		recs[i] = views.Record{RunID: run, EntityID: []byte(r.EntityID), Coverage: r.Coverage, AsOf: r.AsOf, Vector: r.Vector,
			Score: r.Score, ModelName: r.ModelName, ModelVersion: r.ModelVersion, State: []byte("state")}
	}
	if len(recs) > 0 {
		testenv.InsertBatchView(s.t, s.ch, s.db, recs...)
	}
}

// speedRows upserts rows into speed_view as the speed layer does.
func (s *stack) speedRows(rows ...predict.SpeedRow) {
	s.t.Helper()
	for _, r := range rows {
		var base, version *int64
		var score *float32
		var vector []float32
		var model *string
		if r.BaseRunID != 0 {
			base = &r.BaseRunID
		}
		if r.Scored {
			score, vector, model, version = &r.Score, r.Vector, &r.ModelName, &r.ModelVersion
		}
		if _, err := s.pg.Exec(context.Background(), `INSERT INTO speed_view (entity_id, base_run_id, kafka_partition,
			covered_offset, last_event_at, as_of, delta_state, vector, score, model_name, model_version, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, '\x01', $7, $8, $9, $10, $11)
			ON CONFLICT (entity_id) DO UPDATE SET covered_offset = excluded.covered_offset, score = excluded.score,
				vector = excluded.vector, as_of = excluded.as_of, updated_at = excluded.updated_at`,
			r.EntityID, base, r.Partition, r.Offset, r.LastEvent, r.AsOf, vector, score, model, version, r.UpdatedAt); err != nil {
			s.t.Fatal(err)
		}
	}
}

// activeModel registers lr as the model name over features a, b, c and activates it.
func (s *stack) activeModel(name string, lr onnxmodel.LogisticRegression) {
	s.t.Helper()
	if _, err := s.models.Register(context.Background(), name, []string{"a", "b", "c"}, registry.File{Variant: registry.FP32, ONNX: ortenv.ONNX(s.t, lr)}); err != nil {
		s.t.Fatal(err)
	}
	if err := s.models.Activate(context.Background(), name, 1); err != nil {
		s.t.Fatal(err)
	}
}

// logistic is a logistic regression model of width features with weights from seed.
func logistic(width int, seed float32) onnxmodel.LogisticRegression {
	lr := onnxmodel.LogisticRegression{W: make([]float32, width), B: seed / 10}
	for i := range lr.W {
		lr.W[i] = seed * float32(i%5-2) / 7
	}
	return lr
}

// proxy forwards TCP connections to a server until it is cut.
type proxy struct {
	t      testing.TB
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener // nil while cut
	conns  map[net.Conn]bool
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln := listenOutsideEphemeral(t)
	p := &proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

// listenOutsideEphemeral listens on a loopback port below the kernel's range of
// ephemeral ports (net.ipv4.ip_local_port_range). A cut proxy closes its listener and
// restore must get the same port back; a port from that range (port 0) can meanwhile
// become the local port of any outgoing connection on the machine, as one did in CI.
func listenOutsideEphemeral(t testing.TB) net.Listener {
	t.Helper()
	low := 32768 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		_, _ = fmt.Sscan(string(b), &low)
	}
	const from = 10000
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", from+rand.IntN(max(low-from, 1)))); err == nil {
			return ln
		}
	}
	t.Fatalf("proxy: no free port below %d: %v", low, err)
	return nil
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		_ = c.Close()
		_ = u.Close()
		return
	}
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(u, c)
	go cp(c, u)
	<-done
	_ = c.Close()
	_ = u.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, u)
	p.mu.Unlock()
}

// cut refuses new connections and breaks the open ones: the server is down.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

// restore accepts connections again, on the same address.
func (p *proxy) restore() {
	p.t.Helper()
	var (
		ln  net.Listener
		err error
	)
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
}
