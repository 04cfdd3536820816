package servinglayer

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/lambda-platform/lambda/internal/cost"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	predictions *prometheus.CounterVec
	degraded    prometheus.Counter
	events      *prometheus.CounterVec
	inferRows   *prometheus.CounterVec
	inferCPU    *prometheus.CounterVec
	inferMeter  *cost.Sampler // one infer request in 16 is metered
	staleness   *prometheus.HistogramVec
	lookup      *prometheus.HistogramVec
	downloads   *prometheus.CounterVec
}

// stalenessBuckets span a speed answer's seconds to a batch answer's days.
var stalenessBuckets = prometheus.ExponentialBuckets(0.05, 1.5, 36) // 50 ms to 7.6 days

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_serving_requests_total",
			Help: "HTTP requests, by route (the path template; \"unmatched\" for unknown paths), method and status code.",
		}, []string{"route", "method", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_serving_request_duration_seconds",
			Help:    "HTTP request duration, by route and method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100 µs to 3.3 s
		}, []string{"route", "method"}),
		predictions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_serving_predictions_total",
			Help: "Merged answers (predictions and feature vectors), by the view that answered: batch, speed or kappa.",
		}, []string{"source"}),
		degraded: f.NewCounter(prometheus.CounterOpts{
			Name: "lambda_serving_degraded_predictions_total",
			Help: "Merged answers given while one of the views could not be read.",
		}),
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_serving_events_total",
			Help: "Events posted to /v1/events, by outcome: accepted (produced to Kafka) or rejected.",
		}, []string{"outcome"}),
		inferRows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_serving_infer_rows_total",
			Help: "Rows scored through the Open Inference Protocol, by model.",
		}, []string{"model"}),
		inferCPU: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_serving_infer_cpu_seconds_total",
			Help: "CPU seconds spent scoring Open Inference Protocol requests (the ONNX Runtime runs; the thread clock of one request in 16, counted 16 times), by model.",
		}, []string{"model"}),
		staleness: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_serving_answer_staleness_seconds",
			Help:    "Merged answers' staleness when served (serve time - the answer's as_of), by the view that answered.",
			Buckets: stalenessBuckets,
		}, []string{"source"}),
		lookup: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lambda_serving_answer_duration_seconds",
			Help:    "Time to look up and merge one entity's answer in the views (single-entity requests), by the view that answered.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 17), // 50 µs to 3.3 s
		}, []string{"source"}),
		inferMeter: &cost.Sampler{N: 16},
		downloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "lambda_serving_model_downloads_total",
			Help: "GETs of a model's manifest (variant \"manifest\") or file (fp32, int8), by result: ok (200 or 206) or not_modified (304, the client's copy is current).",
		}, []string{"model", "variant", "result"}),
	}
	for _, src := range []predict.Source{predict.Batch, predict.Speed} {
		m.predictions.WithLabelValues(string(src))
	}
	for _, o := range []string{"accepted", "rejected"} {
		m.events.WithLabelValues(o)
	}
	return m
}

// middleware counts and times every request by its route template.
func (m *metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		code := c.Response().Status
		if err != nil { // the error handler has not answered yet
			code = problemOf(err).Status
		}
		method := c.Request().Method
		m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		return err
	}
}

// answered counts a merged answer served at now.
func (m *metrics) answered(a predict.Answer, now time.Time) {
	m.predictions.WithLabelValues(string(a.Source)).Inc()
	m.staleness.WithLabelValues(string(a.Source)).Observe(max(0, now.Sub(a.AsOf()).Seconds()))
	if _, degraded := a.Degraded(); degraded {
		m.degraded.Inc()
	}
}

// downloaded counts a GET of a model's manifest or file; current means the client's copy
// is current (304).
func (m *metrics) downloaded(model, variant string, current bool) {
	result := "ok"
	if current {
		result = "not_modified"
	}
	m.downloads.WithLabelValues(model, variant, result).Inc()
}
