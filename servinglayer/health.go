package servinglayer

import (
	"context"
	"time"

	"github.com/lambda-platform/lambda/servinglayer/api"
)

// checkTimeout bounds a readiness check.
const checkTimeout = 2 * time.Second

func (h handlers) GetHealthz(context.Context, api.GetHealthzRequestObject) (api.GetHealthzResponseObject, error) {
	return api.GetHealthz200JSONResponse{Status: "ok"}, nil
}

func (h handlers) GetReadyz(ctx context.Context, _ api.GetReadyzRequestObject) (api.GetReadyzResponseObject, error) {
	if failing := h.failing(ctx); len(failing) > 0 {
		return api.GetReadyz503JSONResponse{Status: api.ReadinessStatusUnavailable, Failing: &failing}, nil
	}
	return api.GetReadyz200JSONResponse{Status: api.ReadinessStatusReady}, nil
}

// failing runs every check concurrently and returns why those that failed did.
func (s *Server) failing(ctx context.Context) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	errs := make([]error, len(s.deps.Checks))
	done := make(chan struct{})
	for i, chk := range s.deps.Checks {
		go func() {
			errs[i] = chk.Run(ctx)
			done <- struct{}{}
		}()
	}
	for range s.deps.Checks {
		<-done
	}
	failing := map[string]string{}
	for i, err := range errs {
		if err != nil {
			failing[s.deps.Checks[i].Name] = err.Error()
		}
	}
	return failing
}
