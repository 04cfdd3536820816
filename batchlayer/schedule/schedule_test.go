package schedule_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/batchlayer/schedule"
	"github.com/lambda-platform/lambda/internal/runs"
)

// fakeTrigger records calls and answers from a script.
type fakeTrigger struct {
	mu      sync.Mutex
	calls   []string
	answers []error // nil: started; errRunning: running; other: the error
	fired   chan struct{}
}

var errRunning = errors.New("running")

func (f *fakeTrigger) Trigger(_ context.Context, trigger, by string) (runs.Run, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, trigger+"/"+by)
	ans := f.answers[(len(f.calls)-1)%len(f.answers)]
	defer func() { f.fired <- struct{}{} }()
	switch {
	case ans == nil:
		return runs.Run{ID: int64(len(f.calls))}, true, nil
	case errors.Is(ans, errRunning):
		return runs.Run{ID: 1, Status: runs.StatusRunning}, false, nil
	}
	return runs.Run{}, false, ans
}

func TestSchedulerFires(t *testing.T) {
	f := &fakeTrigger{answers: []error{nil, errRunning, errors.New("postgres down")}, fired: make(chan struct{}, 10)}
	reg := prometheus.NewRegistry()
	sched, err := schedule.Parse("@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	s := schedule.New(sched, f, slog.New(slog.DiscardHandler), reg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	for range 3 {
		select {
		case <-f.fired:
		case <-time.After(5 * time.Second):
			t.Fatal("the schedule did not fire")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := "cron/schedule"; len(f.calls) != 3 || f.calls[0] != want {
		t.Errorf("calls %v, want 3 × %s", f.calls, want)
	}
	got := gather(t, reg)
	for _, r := range []string{"started", "running", "error"} {
		if got["lambda_batch_schedule_firings_total/"+r] != 1 {
			t.Errorf("firings %s = %v, want 1", r, got["lambda_batch_schedule_firings_total/"+r])
		}
	}
	if next := got["lambda_batch_schedule_next_firing_timestamp_seconds/"]; next < float64(time.Now().Unix())-2 {
		t.Errorf("next firing gauge %v is in the past", next)
	}
}

// gather returns every sample of reg as name/label value → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			label := ""
			for _, l := range m.GetLabel() {
				label = l.GetValue()
			}
			out[mf.GetName()+"/"+label] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

func TestBadScheduleIsRefused(t *testing.T) {
	for _, spec := range []string{"every ten minutes", "every tuesday", ""} {
		_, err := schedule.Parse(spec)
		if err == nil || !strings.Contains(err.Error(), `"`+spec+`"`) {
			t.Errorf("Parse(%q): %v, want an error naming the schedule", spec, err)
		}
	}
	if _, err := schedule.Parse(schedule.DefaultSpec); err != nil {
		t.Errorf("DefaultSpec: %v", err)
	}
}

func TestScheduleNext(t *testing.T) {
	sched, err := schedule.Parse("15 */6 * * *")
	if err != nil {
		t.Fatal(err)
	}
	if got := sched.String(); got != "15 */6 * * *" {
		t.Errorf("String() = %q, want the expression", got)
	}
	// In the process's time zone, as the package doc says.
	start := time.Date(2026, 3, 1, 7, 0, 0, 0, time.Local)
	want := []time.Time{
		time.Date(2026, 3, 1, 12, 15, 0, 0, time.Local),
		time.Date(2026, 3, 1, 18, 15, 0, 0, time.Local),
		time.Date(2026, 3, 2, 0, 15, 0, 0, time.Local),
	}
	for i, t0 := 0, start; i < len(want); i++ {
		t0 = sched.Next(t0)
		if !t0.Equal(want[i]) {
			t.Errorf("firing %d after %v: %v, want %v", i+1, start, t0, want[i])
		}
	}
}

// A leading seconds field fires on the wall clock, so that replicas fire together.
func TestScheduleSeconds(t *testing.T) {
	sched, err := schedule.Parse("*/20 * * * * *")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 7, 0, 5, 300, time.Local)
	if got, want := sched.Next(start), time.Date(2026, 3, 1, 7, 0, 20, 0, time.Local); !got.Equal(want) {
		t.Errorf("next firing after %v: %v, want %v", start, got, want)
	}
}
