// Package servinglayer is the platform's HTTP API (echo/v4). This first cut serves
// health, readiness and Prometheus metrics; the prediction, ingest, batch-control
// and model-distribution endpoints build on it.
package servinglayer

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency is usable; /readyz runs them all.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Server is the HTTP API.
type Server struct {
	echo   *echo.Echo
	log    *slog.Logger
	checks []Check
}

// New builds the API; gatherer backs /metrics.
func New(log *slog.Logger, gatherer prometheus.Gatherer, checks []Check) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	s := &Server{echo: e, log: log, checks: checks}
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.Recover(), middleware.RequestID())
	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})))
	return s
}

// Handler exposes the router, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve answers on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	status, failing := http.StatusOK, map[string]string{}
	for _, chk := range s.checks {
		if err := chk.Run(ctx); err != nil {
			status = http.StatusServiceUnavailable
			failing[chk.Name] = err.Error()
		}
	}
	if status != http.StatusOK {
		return c.JSON(status, map[string]any{"status": "unavailable", "failing": failing})
	}
	return c.JSON(status, map[string]string{"status": "ready"})
}

// handleError answers every error as {"error": "..."}; only 5xx are logged.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
	}
	if code >= 500 {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
	}
	if err := c.JSON(code, map[string]string{"error": msg}); err != nil {
		s.log.Debug("write error response", "err", err)
	}
}
