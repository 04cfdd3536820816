package tradeoffs

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestWindowDifferencesTheSamples(t *testing.T) {
	reg := prometheus.NewRegistry()
	events := prometheus.NewCounter(prometheus.CounterOpts{Name: speedEvents, Help: "h"})
	reg.MustRegister(events)
	r := NewRecorder(reg, time.Hour, slog.New(slog.DiscardHandler))
	if _, err := r.window(time.Minute); err == nil {
		t.Error("window before any sample: want an error")
	}
	events.Add(100) // before the first sample: not in any window
	r.sample()
	events.Add(42)
	sp, err := r.window(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := sp.delta(speedEvents, "").sum; got != 42 {
		t.Errorf("events in the window = %v, want 42", got)
	}
	if r.Keeps() != 720*time.Hour {
		t.Errorf("keeps %s, want 720 samples' worth", r.Keeps())
	}
	rep := &Reporter{Recorder: r}
	for _, w := range []time.Duration{0, -time.Minute, 721 * time.Hour} {
		if _, err := rep.Report(context.Background(), w); !errors.Is(err, ErrBadWindow) {
			t.Errorf("window %s: %v, want ErrBadWindow", w, err)
		}
	}
}
