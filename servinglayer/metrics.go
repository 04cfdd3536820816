package servinglayer

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/lambda-platform/lambda/servinglayer/predict"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	predictions *prometheus.CounterVec
	degraded    prometheus.Counter
	events      *prometheus.CounterVec
	inferRows   *prometheus.CounterVec
	downloads   *prometheus.CounterVec
}

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

// answered counts a merged answer.
func (m *metrics) answered(a predict.Answer) {
	m.predictions.WithLabelValues(string(a.Source)).Inc()
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
