package servinglayer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/servinglayer/api"
	"github.com/lambda-platform/lambda/servinglayer/edgeclient"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// Defaults for the zero fields of Config.
const (
	DefaultAddr           = "127.0.0.1:8080"
	DefaultBatchGetLimit  = 1000
	DefaultMaxBodyBytes   = event.MaxBatchBytes
	DefaultMaxModelBytes  = 256 << 20
	DefaultRequestTimeout = 30 * time.Second
)

// shutdownTimeout bounds the graceful shutdown of Serve.
const shutdownTimeout = 10 * time.Second

// Config tunes the API; zero fields take the defaults above.
type Config struct {
	// AdminToken is the bearer token of mutating endpoints; without one they answer 403.
	AdminToken string
	// ReadToken, when set, is the bearer token reads and ingest need.
	ReadToken string
	// BatchGetLimit is the most ids one batchGet takes.
	BatchGetLimit int
	// MaxBodyBytes bounds request bodies, MaxModelBytes the body of a model upload.
	MaxBodyBytes  int64
	MaxModelBytes int64
	// RequestTimeout bounds a request's work.
	RequestTimeout time.Duration
	// Model is the model a Kappa replay scores with unless it names another.
	Model string
	// SwitchReplays is the default of a new Kappa replay's switch: true in the Kappa
	// architecture, where every replay replaces the view readers answer from.
	SwitchReplays bool
	// MaxClockSkew is how far an event's ts may be ahead of the time it was received
	// (event.CheckArrival); zero means event.DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// BatchSchedule is the batch layer's schedule, whose expression and next runs
	// /v1/batch/schedule shows; nil when runs are only triggered.
	BatchSchedule Schedule
	// Version is the server version the inference protocol reports.
	Version string
	// CORSOrigins may call the read, infer and download endpoints from a browser
	// (exact origins, or patterns with *); none by default.
	CORSOrigins []string
	// ORTWebDir holds the onnxruntime-web files the browser client at /edge/ loads;
	// empty means edgeclient.DefaultRuntimeDir.
	ORTWebDir string
}

func (c Config) withDefaults() Config {
	if c.BatchGetLimit <= 0 {
		c.BatchGetLimit = DefaultBatchGetLimit
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxModelBytes <= 0 {
		c.MaxModelBytes = DefaultMaxModelBytes
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxClockSkew <= 0 {
		c.MaxClockSkew = event.DefaultMaxClockSkew
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.ORTWebDir == "" {
		c.ORTWebDir = edgeclient.DefaultRuntimeDir
	}
	return c
}

// Predictions answers merged lookups; *predict.Service is one.
type Predictions interface {
	Lookup(ctx context.Context, ids []string) []predict.Answer
	ServedRun() runs.Run
	// Ready returns why the batch view is not served yet, nil once it is.
	Ready() error
}

// BatchRuns reads the batch run registry; *runs.Reader is one.
type BatchRuns interface {
	Run(ctx context.Context, id int64) (runs.Run, error)
	Runs(ctx context.Context, limit int) ([]runs.Run, error)
}

// BatchTrigger starts batch runs; *batchrun.Runner is one.
type BatchTrigger interface {
	// Trigger starts a run, or returns the running one with started false.
	Trigger(ctx context.Context, trigger, requestedBy string) (run runs.Run, started bool, err error)
}

// Replays records and reads Kappa replays; *replays.Registry is one.
type Replays interface {
	Create(ctx context.Context, req replays.Request) (replays.Replay, error)
	Get(ctx context.Context, id int64) (replays.Replay, error)
	List(ctx context.Context, limit int) ([]replays.Replay, error)
}

// Producer writes events to the event log; *kafka.Writer is one.
type Producer interface {
	WriteEvents(ctx context.Context, events []event.Event) error
}

// Models is the model registry; *registry.Registry is one.
type Models interface {
	Models(ctx context.Context) ([]registry.Model, error)
	Versions(ctx context.Context, name string) ([]registry.Version, error)
	Version(ctx context.Context, name string, version int64) (registry.Version, error)
	ONNX(ctx context.Context, name string, version int64, variant registry.Variant) ([]byte, registry.Artifact, error)
	Register(ctx context.Context, name string, features []string, files ...registry.File) (registry.Version, error)
	Activate(ctx context.Context, name string, version int64) error
	Rollback(ctx context.Context, name string) (int64, error)
}

// Scorers serve loaded model versions for the inference protocol; *scoring.Set is one.
type Scorers interface {
	// Use calls fn with the model name at version (0: the active one), loaded.
	Use(ctx context.Context, name string, version int64, fn func(m *inference.Model) error) error
	// Signature returns the input and output of the model name at version.
	Signature(ctx context.Context, name string, version int64) (inference.Signature, error)
}

// Schedule is when batch runs are due; the batch layer's schedule.Schedule is one.
type Schedule interface {
	// Next returns the first run after t.
	Next(t time.Time) time.Time
	// String returns the schedule's expression.
	String() string
}

// Check reports whether one dependency is usable; /readyz runs them all.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
	// Detail, when set, is what the dependency reports about itself in /readyz's
	// details, failing or not.
	Detail func() string
}

// Deps are what the API serves from. A nil dependency makes its endpoints answer 503.
type Deps struct {
	Log *slog.Logger
	// Gatherer backs /metrics; Registerer receives the API's metrics.
	Gatherer   prometheus.Gatherer
	Registerer prometheus.Registerer

	Predictions Predictions
	Runs        BatchRuns
	Trigger     BatchTrigger
	Replays     Replays
	Producer    Producer
	Models      Models
	Scorers     Scorers
	Tradeoffs   Tradeoffs
	// FeatureNames names the views' vector entries, in order (features.Spec.FeatureNames).
	FeatureNames []string
	Checks       []Check
}

// Server is the HTTP API.
type Server struct {
	echo    *echo.Echo
	deps    Deps
	cfg     Config
	log     *slog.Logger
	metrics *metrics
}

// NewServer builds the API over deps.
func NewServer(deps Deps, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Gatherer == nil {
		deps.Gatherer = prometheus.NewRegistry()
	}
	s := &Server{deps: deps, cfg: cfg, log: deps.Log, metrics: newMetrics(deps.Registerer)}
	spec, err := api.Load()
	if err != nil {
		return nil, err
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.JSONSerializer = jsonSerializer{}
	e.Binder = binder{}
	s.echo = e
	v, err := s.newValidator(spec)
	if err != nil {
		return nil, fmt.Errorf("request validator: %w", err)
	}
	s.use(e, v)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(deps.Gatherer, promhttp.HandlerOpts{})))
	e.GET("/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", api.Spec) })
	if err := s.routeEdgeClient(e); err != nil {
		return nil, err
	}
	api.RegisterHandlers(e, api.NewStrictHandler(handlers{s}, nil))
	if err := v.learn(e); err != nil {
		return nil, fmt.Errorf("request validator: %w", err)
	}
	return s, nil
}

// edgePrefix is where the browser client is served, outside the OpenAPI document.
const edgePrefix = "/edge"

// routeEdgeClient serves the browser client (package edgeclient) at /edge/.
func (s *Server) routeEdgeClient(e *echo.Echo) error {
	files, err := edgeclient.New(s.cfg.ORTWebDir)
	if err != nil {
		return err
	}
	methods := []string{http.MethodGet, http.MethodHead}
	e.Match(methods, edgePrefix, func(c echo.Context) error {
		return c.Redirect(http.StatusMovedPermanently, edgePrefix+"/")
	})
	e.Match(methods, edgePrefix+"/*", func(c echo.Context) error {
		return files.Serve(c.Response(), c.Request(), c.Param("*"))
	})
	return nil
}

// Handler exposes the router, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve answers on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handlers implements the generated strict server interface.
type handlers struct{ *Server }

var _ api.StrictServerInterface = handlers{}
