package tests

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"sigs.k8s.io/yaml"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// The observability files under test.
const (
	promDir       = "../deployments/prometheus"
	rulesDir      = promDir + "/rules"
	dashboardsDir = "../deployments/grafana/dashboards"
)

// TestPrometheusRules checks the configuration and the rule files with promtool, and
// runs the alerts' unit tests (each alert fires on the series that should raise it and
// stays silent on healthy ones).
func TestPrometheusRules(t *testing.T) {
	promtool := lookTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "config", promDir + "/prometheus.yml"},
		{"check", "rules", rulesDir + "/recording.yml", rulesDir + "/alerts.yml"},
		{"test", "rules", rulesDir + "/alerts_test.yml"},
	} {
		if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestObservabilityLive runs the platform (`lambda up`) and Debian's prometheus scraping
// it with the repo's rule files, drives a short scenario (events through REST and
// Kafka, stray events and a dead letter, a batch run, queries, model downloads, online
// inference, a Kappa replay), then evaluates every PromQL expression of the dashboards
// (panels and template variables), every recording rule and every alert against that
// Prometheus: each must parse and return data (an alert's SIGNAL, its expression without
// the threshold). Every SQL panel query runs against the platform's PostgreSQL and
// ClickHouse databases and must return rows.
func TestObservabilityLive(t *testing.T) {
	began := time.Now()
	prometheusBin := lookTool(t, "prometheus")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	pool, env, token := freshPlatform(t)
	// distinct_category approximate, so that the batch run's take-over observes
	// lambda_speed_approx_relative_error.
	env = append(env, "LAMBDA_MODEL="+e2eModel, "LAMBDA_FEATURE_SPEC="+approximateSpec(t))
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "5000", "--entities", "50")
	up := start(t, env, "up")
	api := up.waitLine(t, "api", time.Minute)
	brokers := strings.Fields(up.waitLine(t, "kafka", time.Second))[0]
	testenv.WaitFor(t, time.Minute, "GET /readyz = 200", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })
	prom := startPrometheus(t, prometheusBin, strings.TrimPrefix(api, "http://"))

	// Events through REST (one invalid) and straight to Kafka: strays (round robin, so
	// most land outside their home partition) and a message that is not JSON.
	demo := demogen.Config{Entities: 50, Seed: 13, Start: time.Now().Add(-time.Hour), EventsPerSecond: 1}
	postDemoEvents(t, api, demo, 1000, true)
	g := demogen.New(demogen.Config{Entities: 50, Seed: 14, Start: time.Now().Add(-30 * time.Minute), EventsPerSecond: 1})
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers), Topic: e2eTopic, Balancer: &kafkago.RoundRobin{}, RequiredAcks: kafkago.RequireAll}
	var msgs []kafkago.Message
	for _, e := range take(g, 60) {
		v, err := json.Marshal(wire(e))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafkago.Message{Key: []byte(e.EntityID), Value: v})
	}
	msgs = append(msgs, kafkago.Message{Key: []byte("user-000001"), Value: []byte("not an event")})
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce strays and a dead letter: %v", err)
	}
	_ = w.Close()

	// A batch run, then events after its cutoff for the speed layer.
	waitCommitted(t, ctx, brokers, e2eArchiver)
	triggerRun(t, api, token)
	postDemoEvents(t, api, demogen.Config{Entities: 50, Seed: 15, Start: time.Now().Add(-time.Minute), EventsPerSecond: 5}, 300, false)
	waitCommitted(t, ctx, brokers, e2eSpeed)

	// Queries, model downloads and revalidations, online inference, a Kappa replay.
	for i := range 20 {
		if code, body := get(t, fmt.Sprintf("%s/v1/entities/user-%06d/prediction", api, i)); code != http.StatusOK {
			t.Fatalf("GET prediction = %d %s", code, body)
		}
	}
	if code, _, body := call(t, http.MethodPost, api+"/v1/predictions:batchGet", "", nil, []byte(`{"ids":["user-000001","user-000002"]}`)); code != http.StatusOK {
		t.Fatalf("POST batchGet = %d %s", code, body)
	}
	code, header, _ := call(t, http.MethodGet, api+"/v1/models/"+e2eModel, "", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("GET manifest = %d", code)
	}
	if code, _, _ := call(t, http.MethodGet, api+"/v1/models/"+e2eModel, "", http.Header{"If-None-Match": {header.Get("ETag")}}, nil); code != http.StatusNotModified {
		t.Fatalf("GET manifest with its ETag = %d, want 304", code)
	}
	if code, _, _ := call(t, http.MethodGet, api+"/v1/models/"+e2eModel+"/versions/1/int8.onnx", "", nil, nil); code != http.StatusOK {
		t.Fatalf("GET int8 file = %d", code)
	}
	infer := `{"inputs":[{"name":"features","shape":[1,15],"datatype":"FP32","data":[3,1,1,0,0,0,0,0,1.5,1,120,1,1,0,0]}]}`
	if code, _, body := call(t, http.MethodPost, api+"/v2/models/"+e2eModel+"/infer", "", nil, []byte(infer)); code != http.StatusOK {
		t.Fatalf("POST infer = %d %s", code, body)
	}
	run(t, ctx, env, "kappa", "replay")
	scenario := time.Since(began)

	// Two scrapes (every second) after the scenario, so that rates have two samples of
	// what it did (Prometheus scrapes a new target within 5 s), then a rule evaluation.
	var scraped time.Time
	for range 2 {
		previous := scraped
		testenv.WaitFor(t, 30*time.Second, "a scrape after the scenario", func() bool {
			scraped = lastScrape(t, prom)
			return scraped.After(previous) && scraped.After(began.Add(scenario))
		})
	}
	testenv.WaitFor(t, 10*time.Second, "a rule evaluation after the scrapes", func() bool { return lastEvaluation(t, prom).After(scraped) })

	// A rule evaluates at its group's slot, which can precede the scrape it started
	// after; a recorded series may therefore need the next evaluation.
	exprs := promExpressions(t)
	testenv.Eventually(t, 10*time.Second, "every PromQL expression to parse and return data", func() error {
		var missing []string
		for _, e := range exprs {
			n, err := promQuery(prom, e.query)
			switch {
			case err != nil:
				return fmt.Errorf("%s: %s: %w", e.where, e.query, err)
			case n > 0 || e.parseOnly:
			default:
				missing = append(missing, e.where+": "+e.query)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d returned no data:\n  %s", len(missing), strings.Join(missing, "\n  "))
		}
		return nil
	})

	ch, err := store.OpenClickHouse(ctx, cmp.Or(os.Getenv(store.EnvClickHouseAddr), "127.0.0.1:9000"), envValue(env, "LAMBDA_CLICKHOUSE_DATABASE"), store.ClickHouseAuth{})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	sqls := sqlQueries(t)
	for _, q := range sqls {
		var n int
		switch q.datasource {
		case "postgres":
			rows, err := pool.Query(ctx, q.query)
			if err != nil {
				t.Errorf("%s (PostgreSQL): %v\n%s", q.where, err, q.query)
				continue
			}
			for rows.Next() {
				n++
			}
			rows.Close()
			err = rows.Err()
		case "clickhouse":
			rows, err := ch.Query(ctx, q.query)
			if err != nil {
				t.Errorf("%s (ClickHouse): %v\n%s", q.where, err, q.query)
				continue
			}
			for rows.Next() {
				n++
			}
			err = cmp.Or(rows.Err(), rows.Close())
		default:
			t.Errorf("%s: unknown SQL datasource %q", q.where, q.datasource)
		}
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
		} else if n == 0 {
			t.Errorf("%s: no rows\n%s", q.where, q.query)
		}
	}
	t.Logf("%d PromQL expressions and %d SQL queries checked; scenario %s, whole test %s",
		len(exprs), len(sqls), scenario.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// lookTool finds a Debian prometheus package tool, failing the test when it is missing.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (Debian's prometheus package; `make services-up` installs it): %v", name, err)
	}
	return path
}

// startPrometheus runs prometheus on a free loopback port, scraping target every second
// with the repo's rule files evaluated every second, and returns its URL.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	dir := t.TempDir()
	rules, err := filepath.Abs(rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s/recording.yml
  - %s/alerts.yml
scrape_configs:
  - job_name: lambda-api
    static_configs:
      - targets: [%q]
`, rules, rules, target)
	writeFile(t, filepath.Join(dir, "prometheus.yml"), []byte(cfg))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	out, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = out.Close()
		if t.Failed() {
			log, _ := os.ReadFile(out.Name())
			t.Logf("prometheus log:\n%s", log)
		}
	})
	base := "http://" + addr
	testenv.WaitFor(t, 30*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// lastScrape is when the Prometheus at base last scraped its target.
func lastScrape(t *testing.T, base string) time.Time {
	t.Helper()
	var r struct {
		Data struct {
			ActiveTargets []struct {
				LastScrape time.Time `json:"lastScrape"`
				LastError  string    `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	_, body := get(t, base+"/api/v1/targets")
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("GET /api/v1/targets: %v %s", err, body)
	}
	if len(r.Data.ActiveTargets) == 0 {
		return time.Time{} // not discovered yet
	}
	if e := r.Data.ActiveTargets[0].LastError; e != "" {
		t.Fatalf("prometheus scrape: %s", e)
	}
	return r.Data.ActiveTargets[0].LastScrape
}

// lastEvaluation is the oldest last evaluation of the rule groups of the Prometheus at base.
func lastEvaluation(t *testing.T, base string) time.Time {
	t.Helper()
	var r struct {
		Data struct {
			Groups []struct {
				LastEvaluation time.Time `json:"lastEvaluation"`
			} `json:"groups"`
		} `json:"data"`
	}
	_, body := get(t, base+"/api/v1/rules")
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Data.Groups) == 0 {
		return time.Time{}
	}
	oldest := r.Data.Groups[0].LastEvaluation
	for _, g := range r.Data.Groups {
		if g.LastEvaluation.Before(oldest) {
			oldest = g.LastEvaluation
		}
	}
	return oldest
}

// promQuery evaluates query now and returns the number of series (or 1 for a scalar).
func promQuery(base, query string) (int, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s", r.Error)
	}
	if r.Data.ResultType == "scalar" || r.Data.ResultType == "string" {
		return 1, nil
	}
	var series []json.RawMessage
	if err := json.Unmarshal(r.Data.Result, &series); err != nil {
		return 0, err
	}
	return len(series), nil
}

// expression is one query to check, and where it comes from.
type expression struct {
	where, query string
	parseOnly    bool // an alert's whole expression: it returns data only while it fires
}

// dashboardVars are the values the template variables take: all of them.
var dashboardVars = strings.NewReplacer(`$instance`, `.*`, `$partition`, `.*`)

// labelValues is a template variable's query; its series selector is what to evaluate.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// alertExpr is an alert's expression: SIGNAL > THRESHOLD or SIGNAL < THRESHOLD.
var alertExpr = regexp.MustCompile(`^(.+) [<>] [0-9.e+-]+$`)

// promExpressions are every PromQL expression of the dashboards, the recording rules and
// the alerts.
func promExpressions(t *testing.T) []expression {
	t.Helper()
	var out []expression
	for _, d := range dashboardFiles(t) {
		for _, v := range d.Templating.List {
			m := labelValues.FindStringSubmatch(v.Query)
			if m == nil {
				t.Errorf("%s: variable %s: query %q is not label_values(SELECTOR, LABEL)", d.file, v.Name, v.Query)
				continue
			}
			out = append(out, expression{where: d.file + " variable " + v.Name, query: m[1]})
		}
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				if q.Expr != "" {
					out = append(out, expression{where: fmt.Sprintf("%s panel %q %s", d.file, p.Title, q.RefID), query: dashboardVars.Replace(q.Expr)})
				}
			}
		}
	}
	for _, file := range []string{"recording.yml", "alerts.yml"} {
		raw, err := os.ReadFile(filepath.Join(rulesDir, file))
		if err != nil {
			t.Fatal(err)
		}
		var rules struct {
			Groups []struct {
				Rules []struct {
					Record, Alert, Expr string
				}
			}
		}
		if err := yaml.Unmarshal(raw, &rules); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				expr := strings.TrimSpace(r.Expr)
				if r.Record != "" {
					out = append(out, expression{where: file + " " + r.Record, query: expr},
						expression{where: file + " " + r.Record + " (recorded)", query: r.Record})
					continue
				}
				m := alertExpr.FindStringSubmatch(expr)
				if m == nil {
					t.Errorf("%s: alert %s: expression %q is not SIGNAL > THRESHOLD or SIGNAL < THRESHOLD", file, r.Alert, expr)
					continue
				}
				out = append(out, expression{where: file + " " + r.Alert, query: expr, parseOnly: true},
					expression{where: file + " " + r.Alert + " signal", query: m[1]})
			}
		}
	}
	return out
}

// sqlQuery is one SQL panel query and its datasource uid.
type sqlQuery struct{ where, datasource, query string }

// timeFilter is Grafana's $__timeFilter(column) macro; the queries run over the last day.
var timeFilter = regexp.MustCompile(`\$__timeFilter\((\w+)\)`)

// sqlQueries are every SQL query of the dashboards, macros expanded as the datasource would.
func sqlQueries(t *testing.T) []sqlQuery {
	t.Helper()
	var out []sqlQuery
	for _, d := range dashboardFiles(t) {
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				if q.RawSQL == "" {
					continue
				}
				uid := cmp.Or(q.Datasource.UID, p.Datasource.UID)
				window := "$1 >= now() - interval '1 day'"
				if uid == "clickhouse" {
					window = "$1 >= now() - 86400"
				}
				out = append(out, sqlQuery{where: fmt.Sprintf("%s panel %q %s", d.file, p.Title, q.RefID), datasource: uid,
					query: timeFilter.ReplaceAllString(q.RawSQL, window)})
			}
		}
	}
	return out
}

// dashboardFile is what the checks read of a dashboard's JSON.
type dashboardFile struct {
	file       string
	Templating struct {
		List []struct {
			Name, Query string
		}
	}
	Panels []struct {
		Title      string
		Datasource struct{ UID string }
		Targets    []struct {
			RefID      string `json:"refId"`
			Expr       string
			RawSQL     string `json:"rawSql"`
			Datasource struct{ UID string }
		}
	}
}

func dashboardFiles(t *testing.T) []dashboardFile {
	t.Helper()
	paths, err := filepath.Glob(dashboardsDir + "/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardsDir, err)
	}
	var out []dashboardFile
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d := dashboardFile{file: filepath.Base(path)}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, d)
	}
	return out
}
