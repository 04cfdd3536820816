package servinglayer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/servinglayer/api"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

func (h handlers) GetPrediction(ctx context.Context, req api.GetPredictionRequestObject) (api.GetPredictionResponseObject, error) {
	a, err := h.lookupOne(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return api.GetPrediction200JSONResponse(prediction(a, time.Now())), nil
}

func (h handlers) GetFeatures(ctx context.Context, req api.GetFeaturesRequestObject) (api.GetFeaturesResponseObject, error) {
	a, err := h.lookupOne(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	vec := a.Vector()
	if len(vec) != len(h.deps.FeatureNames) {
		return nil, fmt.Errorf("the %s view's vector of %q has %d entries, the feature spec names %d",
			a.Source, req.Id, len(vec), len(h.deps.FeatureNames))
	}
	out := api.Features{
		EntityId: a.EntityID, Source: api.FeaturesSource(a.Source), AsOf: a.AsOf(), Coverage: coverage(a.Coverage()),
		FeatureNames: h.deps.FeatureNames, Vector: vec,
	}
	out.DegradedReason, out.Degraded = degraded(a)
	return api.GetFeatures200JSONResponse(out), nil
}

func (h handlers) BatchGetPredictions(ctx context.Context, req api.BatchGetPredictionsRequestObject) (api.BatchGetPredictionsResponseObject, error) {
	if h.deps.Predictions == nil {
		return nil, fmt.Errorf("predictions: %w", errNotConfigured)
	}
	for i, id := range req.Body.Ids {
		if err := checkEntityID(id); err != nil {
			return nil, badRequest("ids/%d: %v", i, err)
		}
	}
	ids := unique(req.Body.Ids)
	if len(ids) > h.cfg.BatchGetLimit {
		return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("ids: %d distinct ids, more than the limit of %d", len(ids), h.cfg.BatchGetLimit))
	}
	now := time.Now()
	out := api.BatchGetResponse{Predictions: []api.Prediction{}, NotFound: []string{}, Unavailable: []string{}}
	var reason string
	for _, a := range h.deps.Predictions.Lookup(ctx, ids) {
		switch {
		case a.Err == nil:
			h.metrics.answered(a, now)
			out.Predictions = append(out.Predictions, prediction(a, now))
		case errors.Is(a.Err, predict.ErrNotFound):
			out.NotFound = append(out.NotFound, a.EntityID)
		default:
			out.Unavailable = append(out.Unavailable, a.EntityID)
		}
		if r, ok := a.Degraded(); ok && !out.Degraded {
			out.Degraded, reason = true, r
		}
	}
	if len(out.Unavailable) == len(ids) {
		return nil, fmt.Errorf("%w: %s", predict.ErrUnavailable, reason)
	}
	if out.Degraded {
		out.DegradedReason = &reason
	}
	return api.BatchGetPredictions200JSONResponse(out), nil
}

// lookupOne answers for one entity; the error is the answer's when no view answers.
func (h handlers) lookupOne(ctx context.Context, id string) (predict.Answer, error) {
	if h.deps.Predictions == nil {
		return predict.Answer{}, fmt.Errorf("predictions: %w", errNotConfigured)
	}
	if err := checkEntityID(id); err != nil {
		return predict.Answer{}, badRequest("id: %v", err)
	}
	start := time.Now()
	a := h.deps.Predictions.Lookup(ctx, []string{id})[0]
	switch {
	case errors.Is(a.Err, predict.ErrNotFound):
		batch := "no batch run is published"
		if run := h.deps.Predictions.ServedRun().ID; run != 0 {
			batch = fmt.Sprintf("not in the batch view of run %d", run)
		}
		return a, fmt.Errorf("entity %q: %s, and not in the speed view: %w", id, batch, a.Err)
	case a.Err != nil:
		return a, fmt.Errorf("entity %q: %w", id, a.Err)
	}
	h.metrics.answered(a, time.Now())
	h.metrics.lookup.WithLabelValues(string(a.Source)).Observe(time.Since(start).Seconds())
	return a, nil
}

// prediction renders a merged answer, staleness measured at now.
func prediction(a predict.Answer, now time.Time) api.Prediction {
	name, version := a.Model()
	p := api.Prediction{
		EntityId: a.EntityID, Score: a.Score(), Source: api.PredictionSource(a.Source),
		ModelName: name, ModelVersion: version, AsOf: a.AsOf(), Coverage: coverage(a.Coverage()),
		StalenessSeconds: staleness(now, a.AsOf()),
	}
	p.DegradedReason, p.Degraded = degraded(a)
	if b := a.Batch; b != nil {
		p.Batch = &api.BatchValue{
			RunId: b.RunID, Score: b.Score, ModelName: b.ModelName, ModelVersion: b.ModelVersion,
			AsOf: b.AsOf, Coverage: coverage(b.Coverage), StalenessSeconds: staleness(now, b.AsOf),
		}
	}
	if s := a.Speed; s != nil {
		v := &api.SpeedValue{
			AsOf: s.AsOf, UpdatedAt: s.UpdatedAt, Coverage: coverage(s.Coverage), StalenessSeconds: staleness(now, s.AsOf),
		}
		if s.BaseRunID != 0 {
			v.BaseRunId = &s.BaseRunID
		}
		if s.Scored {
			v.Score, v.ModelName, v.ModelVersion = &s.Score, &s.ModelName, &s.ModelVersion
		}
		p.Speed = v
	}
	if k := a.Kappa; k != nil && k.Scored {
		p.Kappa = &api.KappaValue{
			ReplayId: a.KappaReplay, Score: k.Score, ModelName: k.ModelName, ModelVersion: k.ModelVersion,
			AsOf: k.AsOf, Coverage: coverage(k.Coverage), StalenessSeconds: staleness(now, k.AsOf),
		}
	}
	return p
}

func coverage(c predict.Coverage) api.Coverage {
	out := api.Coverage{Partition: c.Partition, Offset: c.Offset}
	if !c.LastEvent.IsZero() {
		out.LastEventAt = &c.LastEvent
	}
	return out
}

// staleness is how long before now the answer's newest covered event happened.
func staleness(now, asOf time.Time) float64 { return max(0, now.Sub(asOf).Seconds()) }

func degraded(a predict.Answer) (*string, bool) {
	reason, ok := a.Degraded()
	if !ok {
		return nil, false
	}
	return &reason, true
}

// checkEntityID says why id cannot be an entity's (the rules of an event's
// entity_id), or returns nil.
func checkEntityID(id string) error {
	var fe *event.FieldError
	if err := event.CheckEntityID(id); errors.As(err, &fe) {
		return errors.New(fe.Reason)
	}
	return nil
}

// unique returns ids without repeats, in first-seen order.
func unique(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
