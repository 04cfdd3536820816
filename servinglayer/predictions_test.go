package servinglayer_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/servinglayer/api"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// fixture is a published run and speed rows covering every case of the merge rule.
type fixture struct {
	run    int64
	asOf   time.Time // of the batch rows
	speed  time.Time // as_of of the speed rows
	vector []float32
}

func newFixture(s *stack) fixture {
	now := time.Now().UTC().Truncate(time.Microsecond)
	f := fixture{asOf: now.Add(-time.Hour), speed: now.Add(-10 * time.Second), vector: make([]float32, len(featureNames))}
	for i := range f.vector {
		f.vector[i] = float32(i) / 2
	}
	batch := func(id string, partition int32, offset int64, score float32) predict.BatchRow {
		return predict.BatchRow{EntityID: id, Coverage: predict.Coverage{Partition: partition, Offset: offset, LastEvent: f.asOf.Add(-time.Minute)},
			AsOf: f.asOf, Vector: f.vector, Score: score, ModelName: "demo", ModelVersion: 1}
	}
	speed := func(id string, partition int32, offset int64, score float32) predict.SpeedRow {
		v := slices.Clone(f.vector)
		v[0] = 99
		return predict.SpeedRow{EntityID: id, BaseRunID: f.run, Coverage: predict.Coverage{Partition: partition, Offset: offset, LastEvent: f.speed},
			AsOf: f.speed, UpdatedAt: now, Scored: true, Vector: v, Score: score, ModelName: "demo", ModelVersion: 2}
	}
	f.run = s.publish([]int64{100, 200, 300}, f.asOf,
		batch("batch-only", 0, 100, 0.1),
		batch("tie", 1, 200, 0.2),
		batch("speed-ahead", 1, 200, 0.3),
		batch("batch-ahead", 2, 300, 0.4),
		batch("odd/id ü", 2, 300, 0.5),
	)
	s.speedRows(
		speed("tie", 1, 200, 0.22),
		speed("speed-ahead", 1, 201, 0.33),
		speed("batch-ahead", 2, 299, 0.44),
		speed("speed-only", 0, 5, 0.6),
		speed("speed-only-2", 0, 6, 0.7),
	)
	unscored := speed("unscored", 0, 7, 0)
	unscored.Scored = false
	s.speedRows(unscored)
	return f
}

func entityPath(id, what string) string { return "/v1/entities/" + url.PathEscape(id) + "/" + what }

func TestPrediction(t *testing.T) {
	s := newStack(t, stackOptions{})
	f := newFixture(s)

	for _, tc := range []struct {
		id     string
		source api.PredictionSource
		score  float32
		batch  bool
		speed  bool
	}{
		{"batch-only", "batch", 0.1, true, false},
		{"tie", "batch", 0.2, true, true},
		{"speed-ahead", "speed", 0.33, true, true},
		{"batch-ahead", "batch", 0.4, true, true},
		{"odd/id ü", "batch", 0.5, true, false},
		{"speed-only", "speed", 0.6, false, true},
	} {
		t.Run(tc.id, func(t *testing.T) {
			r := s.get(entityPath(tc.id, "prediction"))
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var p api.Prediction
			r.json(t, &p)
			if p.EntityId != tc.id || p.Source != tc.source || p.Score != tc.score || p.Degraded {
				t.Errorf("got %s", r.body)
			}
			if (p.Batch != nil) != tc.batch || (p.Speed != nil) != tc.speed {
				t.Errorf("views in the answer: batch %v speed %v; want %v %v", p.Batch != nil, p.Speed != nil, tc.batch, tc.speed)
			}
			wantAsOf, wantVersion := f.asOf, int64(1)
			if tc.source == "speed" {
				wantAsOf, wantVersion = f.speed, 2
			}
			if !p.AsOf.Equal(wantAsOf) || p.ModelName != "demo" || p.ModelVersion != wantVersion {
				t.Errorf("as_of %v model %s@%d; want %v demo@%d", p.AsOf, p.ModelName, p.ModelVersion, wantAsOf, wantVersion)
			}
			if want := time.Since(wantAsOf).Seconds(); math.Abs(p.StalenessSeconds-want) > 2 {
				t.Errorf("staleness %.1f s, want about %.1f s", p.StalenessSeconds, want)
			}
			if p.Batch != nil && (p.Batch.RunId != f.run || p.Batch.Coverage.Offset == 0 || !p.Batch.AsOf.Equal(f.asOf)) {
				t.Errorf("batch value %+v", *p.Batch)
			}
			if p.Speed != nil && (p.Speed.BaseRunId == nil || *p.Speed.BaseRunId != f.run || p.Speed.Score == nil) {
				t.Errorf("speed value %+v", *p.Speed)
			}
			var chosen api.Coverage
			if tc.source == "speed" {
				chosen = p.Speed.Coverage
			} else {
				chosen = p.Batch.Coverage
			}
			if chosen.Offset != p.Coverage.Offset || chosen.Partition != p.Coverage.Partition || !chosen.LastEventAt.Equal(*p.Coverage.LastEventAt) {
				t.Errorf("coverage %+v is not the %s row's %+v", p.Coverage, tc.source, chosen)
			}
		})
	}

	t.Run("not found", func(t *testing.T) {
		for _, id := range []string{"nobody", "unscored"} {
			r := s.get(entityPath(id, "prediction"))
			if msg := r.errorText(t); r.status != http.StatusNotFound || !strings.Contains(msg, id) {
				t.Errorf("%s: status %d %q; want 404 naming the entity", id, r.status, msg)
			}
		}
	})

	t.Run("features", func(t *testing.T) {
		r := s.get(entityPath("speed-ahead", "features"))
		var got api.Features
		r.json(t, &got)
		if r.status != http.StatusOK || got.Source != "speed" || !slices.Equal(got.FeatureNames, featureNames) ||
			len(got.Vector) != len(featureNames) || got.Vector[0] != 99 || !got.AsOf.Equal(f.speed) {
			t.Errorf("status %d: %s", r.status, r.body)
		}
		r = s.get(entityPath("batch-only", "features"))
		r.json(t, &got)
		if r.status != http.StatusOK || got.Source != "batch" || !slices.Equal(got.Vector, f.vector) {
			t.Errorf("status %d: %s", r.status, r.body)
		}
		if r := s.get(entityPath("nobody", "features")); r.status != http.StatusNotFound {
			t.Errorf("unknown entity: status %d", r.status)
		}
	})

	t.Run("batchGet", func(t *testing.T) {
		r := s.post("/v1/predictions:batchGet", `{"ids": ["speed-ahead", "nobody", "tie", "speed-ahead", "batch-only"]}`)
		var got api.BatchGetResponse
		r.json(t, &got)
		if r.status != http.StatusOK || len(got.Predictions) != 3 || !slices.Equal(got.NotFound, []string{"nobody"}) ||
			len(got.Unavailable) != 0 || got.Degraded {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		for i, want := range []struct {
			id     string
			source api.PredictionSource
		}{{"speed-ahead", "speed"}, {"tie", "batch"}, {"batch-only", "batch"}} {
			if p := got.Predictions[i]; p.EntityId != want.id || p.Source != want.source {
				t.Errorf("prediction %d: %s from %s; want %s from %s", i, p.EntityId, p.Source, want.id, want.source)
			}
		}
	})

	t.Run("a new run is served once published", func(t *testing.T) {
		run2 := s.publish([]int64{1000, 1000, 1000}, f.asOf.Add(time.Minute), predict.BatchRow{EntityID: "batch-only", Coverage: predict.Coverage{Partition: 0, Offset: 1000},
			AsOf: f.asOf.Add(time.Minute), Vector: f.vector, Score: 0.9, ModelName: "demo", ModelVersion: 3})
		var p api.Prediction
		s.get(entityPath("batch-only", "prediction")).json(t, &p)
		if p.Score != 0.9 || p.Batch == nil || p.Batch.RunId != run2 {
			t.Errorf("after publishing run %d: %+v", run2, p)
		}
	})
}

func TestBatchGetLimit(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.publish([]int64{0}, time.Now())
	ids := make([]string, 1001)
	for i := range ids {
		ids[i] = fmt.Sprintf("%q", fmt.Sprint("e-", i))
	}
	r := s.post("/v1/predictions:batchGet", `{"ids": [`+strings.Join(ids, ",")+`]}`)
	if msg := r.errorText(t); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "ids") {
		t.Errorf("1001 ids: status %d %q; want 413 naming ids", r.status, msg)
	}
	r = s.post("/v1/predictions:batchGet", `{"ids": [`+strings.Join(ids[:1000], ",")+`]}`)
	var got api.BatchGetResponse
	r.json(t, &got)
	if r.status != http.StatusOK || len(got.NotFound) != 1000 {
		t.Errorf("1000 ids: status %d, %d not found", r.status, len(got.NotFound))
	}
}

func TestDegraded(t *testing.T) {
	s := newStack(t, stackOptions{proxies: true})
	f := newFixture(s)
	answer := func(id string) (response, api.Prediction) {
		r := s.get(entityPath(id, "prediction"))
		var p api.Prediction
		if r.status == http.StatusOK {
			r.json(t, &p)
		}
		return r, p
	}
	t.Run("postgres down", func(t *testing.T) {
		s.pgProxy.cut()
		r, p := answer("speed-ahead")
		if r.status != http.StatusOK || p.Source != "batch" || p.Score != 0.3 || !p.Degraded || p.DegradedReason == nil ||
			!strings.Contains(*p.DegradedReason, "PostgreSQL") || p.Speed != nil {
			t.Errorf("speed-ahead: status %d: %s; want the batch row, degraded", r.status, r.body)
		}
		r, _ = answer("speed-only")
		if msg := r.errorText(t); r.status != http.StatusServiceUnavailable || !strings.Contains(msg, "PostgreSQL") {
			t.Errorf("speed-only: status %d %q; want 503 naming PostgreSQL", r.status, msg)
		}
		s.pgProxy.restore()
		testenv.Eventually(t, 10*time.Second, "recovery from PostgreSQL down", func() error {
			if r, p := answer("speed-ahead"); r.status != http.StatusOK || p.Source != "speed" || p.Degraded {
				return fmt.Errorf("status %d: %s", r.status, r.body)
			}
			return nil
		})
	})

	// Nothing on the request path reads ClickHouse: with it down every answer is the
	// same, and a run published meanwhile is served once it is back.
	t.Run("clickhouse down", func(t *testing.T) {
		ids := []string{"batch-only", "tie", "speed-ahead", "batch-ahead", "odd/id ü", "speed-only", "speed-only-2"}
		before := map[string]string{}
		for _, id := range ids {
			r := s.get(entityPath(id, "prediction"))
			before[id] = fmt.Sprint(r.status, " ", answerOf(t, r))
		}
		s.chProxy.cut()
		for _, id := range ids {
			r := s.get(entityPath(id, "prediction"))
			if got := fmt.Sprint(r.status, " ", answerOf(t, r)); got != before[id] {
				t.Errorf("%s with ClickHouse down: %s, before: %s", id, got, before[id])
			}
		}
		run2 := s.record([]int64{1000, 1000, 1000}, f.asOf.Add(time.Minute), predict.BatchRow{EntityID: "batch-only",
			Coverage: predict.Coverage{Partition: 0, Offset: 1000}, AsOf: f.asOf.Add(time.Minute), Vector: f.vector, Score: 0.9,
			ModelName: "demo", ModelVersion: 1})
		if err := s.preds.Sync(t.Context()); err == nil {
			t.Errorf("run %d loaded with ClickHouse down", run2)
		}
		if r, p := answer("batch-only"); r.status != http.StatusOK || p.Score != 0.1 || p.Degraded {
			t.Errorf("batch-only while run %d cannot load: status %d: %s; want run %d's answer", run2, r.status, r.body, f.run)
		}
		s.chProxy.restore()
		testenv.Eventually(t, 10*time.Second, "run 2 served once ClickHouse is back", func() error {
			if r, p := answer("batch-only"); r.status != http.StatusOK || p.Score != 0.9 || p.Batch == nil || p.Batch.RunId != run2 {
				return fmt.Errorf("status %d: %s", r.status, r.body)
			}
			return nil
		})
	})

	t.Run("both down", func(t *testing.T) {
		s.pgProxy.cut()
		s.chProxy.cut()
		defer s.chProxy.restore()
		defer s.pgProxy.restore()
		r := s.post("/v1/predictions:batchGet", `{"ids": ["batch-only", "speed-only"]}`)
		var got api.BatchGetResponse
		r.json(t, &got)
		if r.status != http.StatusOK || len(got.Predictions) != 1 || got.Predictions[0].Score != 0.9 ||
			!slices.Equal(got.Unavailable, []string{"speed-only"}) || !got.Degraded || !strings.Contains(*got.DegradedReason, "PostgreSQL") {
			t.Errorf("batchGet: status %d: %s; want batch-only from the batch view, speed-only unavailable", r.status, r.body)
		}
	})
}

// answerOf is what a test compares of an answer: its body without the staleness, which
// moves with the clock.
func answerOf(t *testing.T, r response) string {
	t.Helper()
	if r.status != http.StatusOK {
		return string(r.body)
	}
	var p api.Prediction
	r.json(t, &p)
	p.StalenessSeconds = 0
	if p.Batch != nil {
		p.Batch.StalenessSeconds = 0
	}
	if p.Speed != nil {
		p.Speed.StalenessSeconds = 0
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
