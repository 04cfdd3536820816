package servinglayer

import (
	"context"
	"fmt"
	"time"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// scheduleShown is how many upcoming runs /v1/batch/schedule lists.
const scheduleShown = 5

func (h handlers) ListBatchRuns(ctx context.Context, req api.ListBatchRunsRequestObject) (api.ListBatchRunsResponseObject, error) {
	if h.deps.Runs == nil {
		return nil, fmt.Errorf("batch runs: %w", errNotConfigured)
	}
	limit := 20
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	list, err := h.deps.Runs.Runs(ctx, limit)
	if err != nil {
		return nil, unavailable(err, "list batch runs")
	}
	out := api.BatchRunList{Runs: make([]api.BatchRun, len(list))}
	for i, r := range list {
		out.Runs[i] = batchRun(r)
	}
	return api.ListBatchRuns200JSONResponse(out), nil
}

func (h handlers) GetBatchRun(ctx context.Context, req api.GetBatchRunRequestObject) (api.GetBatchRunResponseObject, error) {
	if h.deps.Runs == nil {
		return nil, fmt.Errorf("batch runs: %w", errNotConfigured)
	}
	r, err := h.deps.Runs.Run(ctx, req.Id)
	if err != nil {
		return nil, err
	}
	return api.GetBatchRun200JSONResponse(batchRun(r)), nil
}

func (h handlers) TriggerBatchRun(ctx context.Context, req api.TriggerBatchRunRequestObject) (api.TriggerBatchRunResponseObject, error) {
	if h.deps.Trigger == nil {
		return nil, fmt.Errorf("triggering batch runs: %w", errNotConfigured)
	}
	by := "rest"
	if req.Body != nil && req.Body.RequestedBy != nil && *req.Body.RequestedBy != "" {
		by = *req.Body.RequestedBy
	}
	run, started, err := h.deps.Trigger.Trigger(ctx, runs.TriggerREST, by)
	if err != nil {
		return nil, err
	}
	out := api.TriggerResponse{Started: started, Run: batchRun(run)}
	if started {
		return api.TriggerBatchRun202JSONResponse(out), nil
	}
	return api.TriggerBatchRun200JSONResponse(out), nil
}

func (h handlers) GetBatchSchedule(context.Context, api.GetBatchScheduleRequestObject) (api.GetBatchScheduleResponseObject, error) {
	now := time.Now()
	out := api.BatchSchedule{NextRuns: []time.Time{}}
	if sched := h.cfg.BatchSchedule; sched != nil {
		spec := sched.String()
		out.Schedule = &spec
		for t := now; len(out.NextRuns) < scheduleShown; {
			t = sched.Next(t)
			out.NextRuns = append(out.NextRuns, t)
		}
	}
	if h.deps.Predictions != nil {
		if run := h.deps.Predictions.ServedRun(); run.ID != 0 {
			out.ServedRun = &api.ServedRun{Id: run.ID, PublishedAt: run.PublishedAt}
			if !run.CutoffEventTime.IsZero() {
				out.ServedRun.CutoffEventTime = &run.CutoffEventTime
				out.ServedRun.StalenessSeconds = staleness(now, run.CutoffEventTime)
			}
		}
	}
	return api.GetBatchSchedule200JSONResponse(out), nil
}

// batchRun renders a run; zero times are left out.
func batchRun(r runs.Run) api.BatchRun {
	out := api.BatchRun{
		Id: r.ID, Status: api.BatchRunStatus(r.Status), Trigger: r.Trigger, RequestedBy: r.RequestedBy, CreatedAt: r.CreatedAt,
		StartedAt: optTime(r.StartedAt), FinishedAt: optTime(r.FinishedAt), PublishedAt: optTime(r.PublishedAt),
		ExpiredAt: optTime(r.ExpiredAt),
		Cutoff:    api.Cutoff{Offsets: r.CutoffOffsets, ImportedOffset: r.CutoffImported, EventTime: optTime(r.CutoffEventTime)},
		Counts:    api.RunCounts{EventsRead: r.EventsRead, EntitiesScored: r.EntitiesScored, RowsWritten: r.RowsWritten},
	}
	if out.Cutoff.Offsets == nil {
		out.Cutoff.Offsets = []int64{}
	}
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() {
		d := r.FinishedAt.Sub(r.StartedAt).Seconds()
		out.DurationSeconds = &d
	}
	if r.ModelName != "" {
		out.ModelName, out.ModelVersion = &r.ModelName, &r.ModelVersion
	}
	if r.Error != "" {
		out.Error = &r.Error
	}
	return out
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
