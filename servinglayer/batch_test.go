package servinglayer_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/api"
)

// fakeTrigger starts one run and answers with it while it "runs".
type fakeTrigger struct {
	mu      sync.Mutex
	running *runs.Run
	by      []string
	err     error
}

func (f *fakeTrigger) Trigger(_ context.Context, trigger, requestedBy string) (runs.Run, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return runs.Run{}, false, f.err
	}
	f.by = append(f.by, trigger+" "+requestedBy)
	if f.running != nil {
		return *f.running, false, nil
	}
	f.running = &runs.Run{ID: 42, Status: runs.StatusRunning, Trigger: trigger, RequestedBy: requestedBy, CreatedAt: time.Now(), StartedAt: time.Now()}
	return *f.running, true, nil
}

// sixHourly is the schedule "15 */6 * * *" (minute 15 of hours 0, 6, 12 and 18) as the
// batch layer parses it, in t's time zone.
type sixHourly struct{}

func (sixHourly) String() string { return "15 */6 * * *" }

func (sixHourly) Next(t time.Time) time.Time {
	for h := 0; ; h += 6 {
		if next := time.Date(t.Year(), t.Month(), t.Day(), h, 15, 0, 0, t.Location()); next.After(t) {
			return next
		}
	}
}

func TestBatchRuns(t *testing.T) {
	trigger := &fakeTrigger{}
	s := newStack(t, stackOptions{trigger: trigger, cfg: servinglayer.Config{AdminToken: adminToken, BatchSchedule: sixHourly{}}})
	cutoff := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	published := s.publish([]int64{10, 20}, cutoff)
	failed, err := runs.Start(t.Context(), s.pg, runs.TriggerCron, "schedule")
	if err != nil {
		t.Fatal(err)
	}
	if err := runs.Fail(t.Context(), s.pg, failed.ID, "read: clickhouse down", runs.Counts{EventsRead: 5}); err != nil {
		t.Fatal(err)
	}

	t.Run("list", func(t *testing.T) {
		var list api.BatchRunList
		r := s.get("/v1/batch/runs")
		r.json(t, &list)
		if r.status != http.StatusOK || len(list.Runs) != 2 || list.Runs[0].Id != failed.ID || list.Runs[1].Id != published {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		s.get("/v1/batch/runs?limit=1").json(t, &list)
		if len(list.Runs) != 1 {
			t.Errorf("limit 1: %d runs", len(list.Runs))
		}
	})

	t.Run("get", func(t *testing.T) {
		var run api.BatchRun
		r := s.get("/v1/batch/runs/" + itoa(published))
		r.json(t, &run)
		if r.status != http.StatusOK || run.Status != "published" || !slices.Equal(run.Cutoff.Offsets, []int64{10, 20}) ||
			!run.Cutoff.EventTime.Equal(cutoff) || run.Counts.EventsRead != 100 || run.DurationSeconds == nil ||
			run.PublishedAt == nil || *run.ModelName != "demo" || run.Error != nil {
			t.Errorf("published run: status %d: %s", r.status, r.body)
		}
		r = s.get("/v1/batch/runs/" + itoa(failed.ID))
		r.json(t, &run)
		if r.status != http.StatusOK || run.Status != "failed" || run.Error == nil || *run.Error != "read: clickhouse down" || run.Trigger != "cron" {
			t.Errorf("failed run: status %d: %s", r.status, r.body)
		}
		if r := s.get("/v1/batch/runs/999"); r.status != http.StatusNotFound {
			t.Errorf("unknown run: status %d", r.status)
		}
	})

	t.Run("trigger", func(t *testing.T) {
		if r := s.post("/v1/batch/runs", ""); r.status != http.StatusUnauthorized {
			t.Errorf("without token: status %d", r.status)
		}
		var out api.TriggerResponse
		r := s.post("/v1/batch/runs", "", admin...)
		r.json(t, &out)
		if r.status != http.StatusAccepted || !out.Started || out.Run.Id != 42 || out.Run.Status != "running" {
			t.Errorf("first trigger: status %d: %s", r.status, r.body)
		}
		r = s.post("/v1/batch/runs", `{"requested_by": "ops"}`, admin...)
		r.json(t, &out)
		if r.status != http.StatusOK || out.Started || out.Run.Id != 42 {
			t.Errorf("second trigger: status %d: %s; want the running run", r.status, r.body)
		}
		if want := []string{"rest rest", "rest ops"}; !slices.Equal(trigger.by, want) {
			t.Errorf("triggered as %v, want %v", trigger.by, want)
		}
		if r := s.post("/v1/batch/runs", `{"requested_by": 7}`, admin...); r.status != http.StatusBadRequest {
			t.Errorf("bad body: status %d", r.status)
		}
		trigger.err = runs.ErrBusy
		if r := s.post("/v1/batch/runs", "", admin...); r.status != http.StatusConflict {
			t.Errorf("busy: status %d", r.status)
		}
	})

	t.Run("schedule", func(t *testing.T) {
		var sched api.BatchSchedule
		r := s.get("/v1/batch/schedule")
		r.json(t, &sched)
		if r.status != http.StatusOK || *sched.Schedule != "15 */6 * * *" || len(sched.NextRuns) != 5 || sched.ServedRun == nil ||
			sched.ServedRun.Id != published || sched.ServedRun.StalenessSeconds < 3500 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		for i, next := range sched.NextRuns {
			if next.Minute() != 15 || next.Hour()%6 != 0 || i > 0 && next.Sub(sched.NextRuns[i-1]) != 6*time.Hour {
				t.Errorf("next run %d at %v", i, next)
			}
		}
	})
}

func TestBatchWithoutRunner(t *testing.T) {
	srv, err := servinglayer.NewServer(servinglayer.Deps{}, servinglayer.Config{AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, client: http.DefaultClient, url: serve(t, srv)}
	if r := s.post("/v1/batch/runs", "", admin...); r.status != http.StatusServiceUnavailable {
		t.Errorf("trigger: status %d", r.status)
	}
	var sched api.BatchSchedule
	r := s.get("/v1/batch/schedule")
	r.json(t, &sched)
	if r.status != http.StatusOK || sched.Schedule != nil || len(sched.NextRuns) != 0 || sched.ServedRun != nil {
		t.Errorf("schedule: %s", r.body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
