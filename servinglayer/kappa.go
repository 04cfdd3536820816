package servinglayer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

func (h handlers) ListKappaReplays(ctx context.Context, req api.ListKappaReplaysRequestObject) (api.ListKappaReplaysResponseObject, error) {
	if h.deps.Replays == nil {
		return nil, fmt.Errorf("kappa replays: %w", errNotConfigured)
	}
	limit := 20
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	list, err := h.deps.Replays.List(ctx, limit)
	if err != nil {
		return nil, unavailable(err, "list kappa replays")
	}
	out := api.KappaReplayList{Replays: make([]api.KappaReplay, len(list))}
	for i, r := range list {
		out.Replays[i] = kappaReplay(r)
	}
	return api.ListKappaReplays200JSONResponse(out), nil
}

func (h handlers) GetKappaReplay(ctx context.Context, req api.GetKappaReplayRequestObject) (api.GetKappaReplayResponseObject, error) {
	if h.deps.Replays == nil {
		return nil, fmt.Errorf("kappa replays: %w", errNotConfigured)
	}
	r, err := h.deps.Replays.Get(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return api.GetKappaReplay200JSONResponse(kappaReplay(r)), nil
}

func (h handlers) StartKappaReplay(ctx context.Context, req api.StartKappaReplayRequestObject) (api.StartKappaReplayResponseObject, error) {
	if h.deps.Replays == nil {
		return nil, fmt.Errorf("kappa replays: %w", errNotConfigured)
	}
	rr := replays.Request{ModelName: h.cfg.Model, RequestedBy: "rest", Switch: h.cfg.SwitchReplays}
	if b := req.Body; b != nil {
		if b.Model != nil {
			var err error
			if rr.ModelName, rr.ModelVersion, err = replays.ParseModelRef(*b.Model); err != nil {
				return nil, badRequest("model: %v", err)
			}
		}
		if b.Spec != nil {
			spec, err := json.Marshal(*b.Spec)
			if err == nil {
				_, err = features.ParseSpec(spec)
			}
			if err != nil {
				return nil, badRequest("spec: %v", err)
			}
			rr.Spec = string(spec)
		}
		if b.Switch != nil {
			rr.Switch = *b.Switch
		}
		if b.RequestedBy != nil && *b.RequestedBy != "" {
			rr.RequestedBy = *b.RequestedBy
		}
	}
	if rr.ModelName == "" {
		return nil, badRequest("model: none given, and the server has no default model")
	}
	r, err := h.deps.Replays.Create(ctx, rr)
	if err != nil {
		return nil, unavailable(err, "start a kappa replay")
	}
	return api.StartKappaReplay202JSONResponse(kappaReplay(r)), nil
}

// kappaReplay renders a replay; zero times are left out.
func kappaReplay(r replays.Replay) api.KappaReplay {
	out := api.KappaReplay{
		Id: r.ID, Status: api.KappaReplayStatus(r.Status), SwitchWhenReady: r.SwitchWhenReady, ModelName: r.ModelName,
		RequestedBy: r.RequestedBy, CreatedAt: r.CreatedAt, ReadyAt: optTime(r.ReadyAt), SwitchedAt: optTime(r.SwitchedAt),
		RetiredAt: optTime(r.RetiredAt), DroppedAt: optTime(r.DroppedAt),
	}
	if r.ModelVersion != 0 {
		out.ModelVersion = &r.ModelVersion
	}
	out.Progress.OffsetsDone, out.Progress.OffsetsTotal, out.Progress.EventsPerSecond = r.OffsetsDone, r.OffsetsTotal, r.EventsPerSecond
	if r.Status == replays.Replaying && r.EventsPerSecond > 0 {
		eta := float64(r.OffsetsTotal-r.OffsetsDone) / r.EventsPerSecond
		out.Progress.EtaSeconds = &eta
	}
	if r.Error != "" {
		out.Error = &r.Error
	}
	return out
}
