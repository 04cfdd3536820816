// Package schedule triggers batch runs on a cron schedule.
//
// The schedule is a standard cron expression (five fields: minute, hour, day of
// month, month, day of week, in the process's time zone unless prefixed with
// CRON_TZ=...), optionally with a sixth, leading field of seconds ("*/30 * * * * *":
// every 30 s on the wall clock), or a descriptor (@hourly, @daily, @every 10m), parsed by
// github.com/robfig/cron/v3 once, by Parse: the Scheduler fires on the parsed Schedule,
// and the serving layer lists its next firings. The default, DefaultSpec, runs every ten
// minutes on the wall clock. Prefer wall-clock expressions when several replicas run a scheduler:
// they all fire at the same instant and the batch lock lets exactly one run start
// (the others are told which run is running), while @every counts from each
// process's start, so replicas would start runs at different times.
//
// Firing calls the Triggerer (batchrun.Runner.Trigger) with trigger "cron"; a run
// already running, here or elsewhere, is not an error. A firing missed because the
// previous Trigger call was still returning is skipped, not queued.
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	lambda_batch_schedule_firings_total              counter  firings, by result: started, running (a run
//	                                                          was already running), error
//	lambda_batch_schedule_next_firing_timestamp_seconds  gauge  unix time of the next firing
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/robfig/cron/v3"

	"github.com/lambda-platform/lambda/internal/runs"
)

// DefaultSpec fires at minutes 0, 10, 20, 30, 40 and 50 of every hour.
const DefaultSpec = "*/10 * * * *"

// requestedBy is what a run started by the schedule says asked for it.
const requestedBy = "schedule"

// Triggerer starts a batch run unless one is running (batchrun.Runner).
type Triggerer interface {
	Trigger(ctx context.Context, trigger, requestedBy string) (run runs.Run, started bool, err error)
}

// Schedule is a parsed cron expression: when the batch runs are due. The serving layer
// lists its next firings.
type Schedule struct {
	spec  string
	sched cron.Schedule
}

// parser reads standard cron expressions and descriptors, with an optional seconds field.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses spec, a cron expression as described in the package doc.
func Parse(spec string) (Schedule, error) {
	sched, err := parser.Parse(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("batch schedule %q: %w", spec, err)
	}
	return Schedule{spec: spec, sched: sched}, nil
}

// Next returns the first firing after t.
func (s Schedule) Next(t time.Time) time.Time { return s.sched.Next(t) }

// String returns the expression as given to Parse.
func (s Schedule) String() string { return s.spec }

// Scheduler fires a Triggerer on a cron schedule.
type Scheduler struct {
	sched   Schedule
	t       Triggerer
	log     *slog.Logger
	firings *prometheus.CounterVec
	next    prometheus.Gauge
}

// New returns a Scheduler that fires t on sched.
func New(sched Schedule, t Triggerer, log *slog.Logger, reg prometheus.Registerer) *Scheduler {
	f := promauto.With(reg)
	s := &Scheduler{
		sched: sched, t: t, log: log,
		firings: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_batch_schedule_firings_total",
			Help: "Batch schedule firings, by result.",
		}, []string{"result"}),
		next: f.NewGauge(prometheus.GaugeOpts{
			Name: "lambda_batch_schedule_next_firing_timestamp_seconds",
			Help: "Unix time of the next batch schedule firing.",
		}),
	}
	for _, r := range []string{"started", "running", "error"} {
		s.firings.WithLabelValues(r)
	}
	return s
}

// Run fires on schedule until ctx ends, then returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	s.log.Info("batch schedule started", "schedule", s.sched.String())
	for {
		next := s.sched.Next(time.Now())
		s.next.Set(float64(next.UnixMilli()) / 1e3)
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			s.log.Info("batch schedule stopped")
			return nil
		case <-timer.C:
		}
		s.fire(ctx)
	}
}

func (s *Scheduler) fire(ctx context.Context) {
	run, started, err := s.t.Trigger(ctx, runs.TriggerCron, requestedBy)
	switch {
	case err != nil:
		s.firings.WithLabelValues("error").Inc()
		s.log.Error("scheduled batch run not started", "err", err)
	case started:
		s.firings.WithLabelValues("started").Inc()
		s.log.Info("scheduled batch run started", "run", run.ID)
	default:
		s.firings.WithLabelValues("running").Inc()
		s.log.Info("scheduled batch run skipped: a run is running", "run", run.ID, "trigger", run.Trigger, "requested_by", run.RequestedBy)
	}
}
