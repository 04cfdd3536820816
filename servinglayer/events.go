package servinglayer

import (
	"context"
	"fmt"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

func (h handlers) PostEvents(ctx context.Context, req api.PostEventsRequestObject) (api.PostEventsResponseObject, error) {
	body, err := req.Body.MarshalJSON() // the raw body, as the union keeps it
	if err != nil {
		return nil, err
	}
	received := time.Now()
	events, rejections, err := event.DecodeMany(body)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	events, rejections = event.CheckArrivals(events, rejections, received, h.cfg.MaxClockSkew)
	out := api.EventsAccepted{Accepted: len(events), Rejected: len(rejections), Rejections: make([]api.Rejection, len(rejections))}
	for i, r := range rejections {
		out.Rejections[i] = api.Rejection{Index: r.Index, Error: r.Err.Error()}
	}
	if h.deps.Producer == nil {
		return nil, fmt.Errorf("event ingest: %w", errNotConfigured)
	}
	h.metrics.events.WithLabelValues("rejected").Add(float64(len(rejections)))
	if len(events) == 0 {
		msg := "no valid event in the body"
		if len(rejections) > 0 {
			msg += fmt.Sprintf(": event %d: %v", rejections[0].Index, rejections[0].Err)
		}
		out.Error = &msg
		return api.PostEvents400JSONResponse(out), nil
	}
	if err := h.deps.Producer.WriteEvents(ctx, events); err != nil {
		return nil, unavailable(err, "event log: produce %d events", len(events))
	}
	h.metrics.events.WithLabelValues("accepted").Add(float64(len(events)))
	return api.PostEvents202JSONResponse(out), nil
}
