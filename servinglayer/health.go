package servinglayer

import (
	"context"
	"slices"
	"time"

	"github.com/lambda-platform/lambda/servinglayer/api"
)

// checkTimeout bounds a readiness check.
const checkTimeout = 2 * time.Second

func (h handlers) GetHealthz(context.Context, api.GetHealthzRequestObject) (api.GetHealthzResponseObject, error) {
	return api.GetHealthz200JSONResponse{Status: "ok"}, nil
}

func (h handlers) GetReadyz(ctx context.Context, _ api.GetReadyzRequestObject) (api.GetReadyzResponseObject, error) {
	details := h.details()
	if failing := h.failing(ctx); len(failing) > 0 {
		return api.GetReadyz503JSONResponse{Status: api.ReadinessStatusUnavailable, Failing: &failing, Details: details}, nil
	}
	return api.GetReadyz200JSONResponse{Status: api.ReadinessStatusReady, Details: details}, nil
}

// details returns what the checks with a Detail report, nil when none has one.
func (s *Server) details() *map[string]string {
	var out map[string]string
	for _, chk := range s.deps.Checks {
		if chk.Detail != nil {
			if out == nil {
				out = map[string]string{}
			}
			out[chk.Name] = chk.Detail()
		}
	}
	if out == nil {
		return nil
	}
	return &out
}

// failing runs every check concurrently and returns why those that failed did. A
// server with predictions is not ready before their batch view is loaded.
func (s *Server) failing(ctx context.Context) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	checks := s.deps.Checks
	if s.deps.Predictions != nil {
		checks = append(slices.Clip(checks), Check{Name: "batch view", Run: func(context.Context) error { return s.deps.Predictions.Ready() }})
	}
	errs := make([]error, len(checks))
	done := make(chan struct{})
	for i, chk := range checks {
		go func() {
			errs[i] = chk.Run(ctx)
			done <- struct{}{}
		}()
	}
	for range checks {
		<-done
	}
	failing := map[string]string{}
	for i, err := range errs {
		if err != nil {
			failing[checks[i].Name] = err.Error()
		}
	}
	return failing
}
