package tradeoffs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The metric families a report differences, each with the label its series are
// grouped by ("" sums every series of the family).
var sampled = map[string]string{
	speedEvents:    "",
	speedCPU:       "",
	inferCPU:       "",
	answerStale:    "source",
	answerDuration: "source",
	requestTime:    "route",
	approxError:    "feature",
}

const (
	speedEvents    = "lambda_speed_events_total"
	speedCPU       = "lambda_speed_cpu_seconds_total"
	inferCPU       = "lambda_serving_infer_cpu_seconds_total"
	answerStale    = "lambda_serving_answer_staleness_seconds"
	answerDuration = "lambda_serving_answer_duration_seconds"
	requestTime    = "lambda_serving_request_duration_seconds"
	approxError    = "lambda_speed_approx_relative_error"
)

// capacity is how many samples the ring keeps: windows up to (capacity-1) × every.
const capacity = 721

// snapshot is the sampled families at one instant, by family and label value.
type snapshot struct {
	at     time.Time
	series map[key]hist
}

type key struct{ family, label string }

// Recorder samples the process's metrics every interval into a ring.
type Recorder struct {
	g     prometheus.Gatherer
	every time.Duration
	log   *slog.Logger

	mu   sync.Mutex
	ring []snapshot // oldest first
}

// NewRecorder samples g every interval once Run runs.
func NewRecorder(g prometheus.Gatherer, every time.Duration, log *slog.Logger) *Recorder {
	return &Recorder{g: g, every: every, log: log}
}

// Keeps is the longest window the ring can difference.
func (r *Recorder) Keeps() time.Duration { return time.Duration(capacity-1) * r.every }

// Run samples until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		r.sample()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Recorder) sample() {
	s, err := r.take()
	if err != nil {
		r.log.Warn("trade-offs: metrics not sampled", "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ring) == capacity {
		r.ring = append(r.ring[:0], r.ring[1:]...)
	}
	r.ring = append(r.ring, s)
}

func (r *Recorder) take() (snapshot, error) {
	fams, err := r.g.Gather()
	if err != nil {
		return snapshot{}, fmt.Errorf("gather metrics: %w", err)
	}
	s := snapshot{at: time.Now(), series: map[key]hist{}}
	for _, f := range fams {
		label, ok := sampled[f.GetName()]
		if !ok {
			continue
		}
		for _, m := range f.GetMetric() {
			k := key{family: f.GetName()}
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					k.label = l.GetValue()
				}
			}
			s.series[k] = s.series[k].plus(histOf(m))
		}
	}
	return s, nil
}

// span is what was observed over a window: now's sample minus the oldest sample
// within the window.
type span struct {
	from, to time.Time
	old, now snapshot
}

// window returns the span from the oldest sample no older than d to a sample taken
// now.
func (r *Recorder) window(d time.Duration) (span, error) {
	now, err := r.take()
	if err != nil {
		return span{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ring) == 0 {
		return span{}, fmt.Errorf("no metrics sampled yet")
	}
	old := r.ring[len(r.ring)-1]
	for _, s := range r.ring {
		if now.at.Sub(s.at) <= d {
			old = s
			break
		}
	}
	return span{from: old.at, to: now.at, old: old, now: now}, nil
}

// seconds is the span's length.
func (s span) seconds() float64 { return s.to.Sub(s.from).Seconds() }

// delta is what family (label value; "" for all) observed over the span.
func (s span) delta(family, label string) hist {
	k := key{family, label}
	return s.now.series[k].minus(s.old.series[k])
}

// labels are the label values family has series for now.
func (s span) labels(family string) []string {
	var out []string
	for k := range s.now.series {
		if k.family == family {
			out = append(out, k.label)
		}
	}
	return out
}
