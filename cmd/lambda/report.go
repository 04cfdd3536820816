package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/report"
	"github.com/lambda-platform/lambda/internal/tradeoffs"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/servinglayer"
)

const reportUsage = `lambda report: the Lambda trade-offs from this deployment's records

Usage:
  lambda report rollout --run ID --replay ID   one change rolled out both ways, side by side
  lambda report tradeoffs [--api URL] [--window 15m] [--json]
                                               the choosing-between-patterns table, measured`

func runReport(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, reportUsage)
		return nil
	}
	switch args[0] {
	case "rollout":
		return runRollout(ctx, args[1:])
	case "tradeoffs":
		return runTradeoffs(ctx, args[1:])
	}
	fmt.Fprintln(os.Stderr, reportUsage)
	return fmt.Errorf("unknown report %q", args[0])
}

func runRollout(ctx context.Context, args []string) error {
	var (
		pg          config.Postgres
		ch          config.ClickHouse
		rt          config.Runtime
		logCfg      config.Log
		run, replay int64
	)
	f := config.NewFlags("report rollout", "lambda report rollout: one change rolled out the Lambda way (batch run --run) and the Kappa way (replay --replay), side by side: wall time, CPU seconds, peak heap, bytes read and stored, rows written, when the answers came, and how far the two views' answers are apart")
	f.Add(&pg, &ch, &rt, &logCfg)
	f.Int64Var(&run, "run", 0, "the batch run")
	f.Int64Var(&replay, "replay", 0, "the Kappa replay")
	log, err := parse(f, args, &logCfg)
	if err != nil {
		return err
	}
	if run < 1 || replay < 1 {
		return fmt.Errorf("report rollout: --run and --replay are required")
	}
	if err := inference.InitRuntime(rt.ORTLib); err != nil {
		return err
	}
	pool, err := openPostgres(ctx, pg)
	if err != nil {
		return err
	}
	defer pool.Close()
	r, err := report.NewRollout(ctx, report.RolloutDeps{Postgres: pool, Batch: views.NewBatch(ch.Stream(), ch.Database),
		Models: registry.New(pool, log)}, run, replay)
	if err != nil {
		return err
	}
	return r.Write(os.Stdout)
}

// runTradeoffs asks a running API for GET /v1/tradeoffs: the figures are measured
// in the process that serves, so that is where the report is built.
func runTradeoffs(ctx context.Context, args []string) error {
	var (
		api, token string
		window     time.Duration
		asJSON     bool
	)
	f := config.NewFlags("report tradeoffs", "lambda report tradeoffs: batch view, speed view, online inference and edge against latency, update frequency, cost and freshness, and Lambda against Kappa, measured by a running API over --window (GET /v1/tradeoffs)")
	f.String(&api, "api", "LAMBDA_API_URL", "http://"+servinglayer.DefaultAddr, "the API to ask")
	f.String(&token, "read-token", "LAMBDA_READ_TOKEN", "", "bearer token of reads, if the API requires one")
	f.Duration(&window, "window", "LAMBDA_TRADEOFFS_WINDOW", tradeoffs.DefaultWindow, "how far back to measure")
	f.BoolVar(&asJSON, "json", false, "print the API's JSON instead of the table")
	if err := f.Parse(args); err != nil {
		return err
	}
	body, err := getTradeoffs(ctx, api, token, window)
	if err != nil {
		return err
	}
	if asJSON {
		_, err := os.Stdout.Write(body)
		return err
	}
	var r tradeoffs.Report
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decode the trade-offs report: %w", err)
	}
	return r.Write(os.Stdout)
}

func getTradeoffs(ctx context.Context, api, token string, window time.Duration) ([]byte, error) {
	u := strings.TrimSuffix(api, "/") + "/v1/tradeoffs?window=" + url.QueryEscape(window.String())
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // the first report compares a run with a replay
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("--api %q: %w", api, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
