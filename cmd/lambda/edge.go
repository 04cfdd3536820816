package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/gctune"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/edgenode"
)

// edgeSettings are `lambda edge`'s own settings: what it mirrors, from where, and how
// it serves.
type edgeSettings struct {
	Upstream        string
	UpstreamToken   string
	Models          []string
	Variants        []string
	Score           string
	Poll            time.Duration
	UpstreamTimeout time.Duration

	Addr        string
	ReadToken   string
	Timeout     time.Duration
	CORSOrigins []string
}

// Register binds the section to flags.
func (c *edgeSettings) Register(f *config.Flags) {
	f.String(&c.Upstream, "upstream", "LAMBDA_EDGE_UPSTREAM", "", "base URL of the platform's HTTP API whose active models this node mirrors (required), e.g. http://central:8080")
	f.String(&c.UpstreamToken, "upstream-token", "LAMBDA_EDGE_UPSTREAM_TOKEN", "", "the upstream's read token, if it has one")
	f.List(&c.Models, "models", "LAMBDA_EDGE_MODELS", "", "comma-separated models to mirror (none: every model with an active version upstream)")
	f.List(&c.Variants, "variants", "LAMBDA_EDGE_VARIANTS", "fp32,int8", "model files downloaded, verified and served for download (fp32, int8: whichever the version has)")
	f.String(&c.Score, "score-variant", "LAMBDA_EDGE_SCORE_VARIANT", string(registry.FP32), "the variant infer scores with (fp32: the central API's scores exactly; int8: smaller, approximate)")
	f.Duration(&c.Poll, "poll", "LAMBDA_EDGE_POLL", edgenode.DefaultPoll, "time between syncs with the upstream (a manifest revalidated with If-None-Match: a 304 when nothing changed)")
	f.Duration(&c.UpstreamTimeout, "upstream-timeout", "LAMBDA_EDGE_UPSTREAM_TIMEOUT", edgenode.DefaultTimeout, "bound of one request to the upstream")
	f.String(&c.Addr, "http-addr", "LAMBDA_HTTP_ADDR", servinglayer.DefaultAddr, "HTTP listen address of the node")
	f.String(&c.ReadToken, "read-token", "LAMBDA_READ_TOKEN", "", "bearer token of the node's infer and download endpoints (none: open)")
	f.Duration(&c.Timeout, "http-timeout", "LAMBDA_HTTP_TIMEOUT", servinglayer.DefaultRequestTimeout, "bound of one request's work")
	f.List(&c.CORSOrigins, "cors-origins", "LAMBDA_CORS_ORIGINS", "",
		"comma-separated origins (or patterns with *) whose browser pages may call the node (none: same-origin only)")
}

// LogValue masks the tokens.
func (c edgeSettings) LogValue() slog.Value {
	return slog.GroupValue(slog.String("upstream", config.MaskURL(c.Upstream)), slog.String("upstream_token", config.Mask(c.UpstreamToken)),
		slog.Any("models", c.Models), slog.Any("variants", c.Variants), slog.String("score_variant", c.Score),
		slog.Duration("poll", c.Poll), slog.Duration("upstream_timeout", c.UpstreamTimeout), slog.String("addr", c.Addr),
		slog.String("read_token", config.Mask(c.ReadToken)), slog.Duration("timeout", c.Timeout), slog.Any("cors_origins", c.CORSOrigins))
}

type edgeConfig struct {
	Runtime config.Runtime
	Log     config.Log
	Edge    edgeSettings
	GC      gcSettings
}

func runEdge(ctx context.Context, args []string) error {
	cfg := edgeConfig{GC: gcSettings{def: gctune.DefaultHeadroomMB}}
	f := config.NewFlags("edge", "lambda edge: an edge node. It mirrors the active models of an upstream platform "+
		"(manifests polled with If-None-Match, files verified by sha256, kept under <data-dir>/edge and swapped atomically), "+
		"serves the Open Inference Protocol and the model downloads locally, and keeps serving its last verified "+
		"versions while the upstream is unreachable")
	f.Add(&cfg.Runtime, &cfg.Log, &cfg.Edge, &cfg.GC)
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	log.Info("config", "edge", cfg.Edge, "data_dir", cfg.Runtime.DataDir, "ort_lib", cfg.Runtime.ORTLib, "gc_headroom_mb", cfg.GC.HeadroomMB)
	if err := inference.InitRuntime(cfg.Runtime.ORTLib); err != nil {
		return err
	}
	defer cfg.GC.start()()
	variants := make([]registry.Variant, len(cfg.Edge.Variants))
	for i, v := range cfg.Edge.Variants {
		variants[i] = registry.Variant(v)
	}
	reg := newRegistry()
	mirror, err := edgenode.New(edgenode.Config{
		Upstream: cfg.Edge.Upstream, Token: cfg.Edge.UpstreamToken, Dir: filepath.Join(cfg.Runtime.DataDir, "edge"),
		Models: cfg.Edge.Models, Variants: variants, Score: registry.Variant(cfg.Edge.Score),
		Poll: cfg.Edge.Poll, Timeout: cfg.Edge.UpstreamTimeout,
		Model: inference.Options{Observer: inference.NewRunMetrics(reg)},
	}, log, reg)
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	defer func() {
		if err := mirror.Close(); err != nil {
			log.Warn("close models", "err", err)
		}
	}()
	api, err := servinglayer.NewServer(servinglayer.Deps{
		Log: log, Gatherer: reg, Registerer: reg, Models: mirror, Scorers: mirror,
		Checks: []servinglayer.Check{{Name: "edge mirror", Run: mirror.Ready, Detail: mirror.Detail}},
	}, servinglayer.Config{
		ReadToken: cfg.Edge.ReadToken, RequestTimeout: cfg.Edge.Timeout, Version: version, CORSOrigins: cfg.Edge.CORSOrigins,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Edge.Addr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	log.Info("serving", "edge", "http://"+ln.Addr().String(), "upstream", config.MaskURL(cfg.Edge.Upstream))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		mirror.Run(gctx)
		return nil
	})
	g.Go(func() error { return api.Serve(gctx, ln) })
	return g.Wait()
}
