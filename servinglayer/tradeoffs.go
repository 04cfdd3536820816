package servinglayer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lambda-platform/lambda/internal/tradeoffs"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// Tradeoffs builds the trade-offs report (tradeoffs.Reporter).
type Tradeoffs interface {
	Report(ctx context.Context, window time.Duration) (tradeoffs.Report, error)
}

func (h handlers) GetTradeoffs(ctx context.Context, req api.GetTradeoffsRequestObject) (api.GetTradeoffsResponseObject, error) {
	if h.deps.Tradeoffs == nil {
		return nil, fmt.Errorf("trade-offs: %w", errNotConfigured)
	}
	window := tradeoffs.DefaultWindow
	if w := req.Params.Window; w != nil {
		d, err := time.ParseDuration(*w)
		if err != nil {
			return nil, badRequest("window: %q is not a duration such as 15m or 1h", *w)
		}
		window = d
	}
	r, err := h.deps.Tradeoffs.Report(ctx, window)
	if errors.Is(err, tradeoffs.ErrBadWindow) {
		return nil, badRequest("%s", err)
	}
	if err != nil {
		return nil, err
	}
	return tradeoffsResponse(r), nil
}

// tradeoffsResponse is the report as it is: its JSON is the Tradeoffs schema.
type tradeoffsResponse tradeoffs.Report

func (r tradeoffsResponse) VisitGetTradeoffsResponse(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(tradeoffs.Report(r))
}
