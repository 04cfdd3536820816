package servinglayer_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/api"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// runRows are a run's rows of entities e-0 ... e-(n-1), all covering offset of their
// partition.
func runRows(n int, offset int64, asOf time.Time, score float32) []predict.BatchRow {
	rows := make([]predict.BatchRow, n)
	for i := range rows {
		rows[i] = predict.BatchRow{EntityID: fmt.Sprint("e-", i), Coverage: predict.Coverage{Partition: int32(i % 3), Offset: offset},
			AsOf: asOf, Vector: make([]float32, len(featureNames)), Score: score, ModelName: "demo", ModelVersion: 1}
	}
	return rows
}

// TestPublishUnderReaders: while readers ask for random entities without pause, three
// runs are published one after another; no answer is an error, and no reader sees an
// entity's coverage go back.
func TestPublishUnderReaders(t *testing.T) {
	const entities, readers = 2000, 8
	s := newStack(t, stackOptions{})
	asOf := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	s.publish([]int64{100, 100, 100}, asOf, runRows(entities, 100, asOf, 0.1)...)

	ctx, cancel := context.WithCancel(t.Context())
	var (
		wg       sync.WaitGroup
		answered atomic.Int64
		mu       sync.Mutex
		problems []string
	)
	for r := range readers {
		wg.Go(func() {
			seen := map[string]int64{} // the coverage this reader saw last, per entity
			for i := r; ctx.Err() == nil; i += readers {
				ids := []string{fmt.Sprint("e-", i*7919%entities), fmt.Sprint("e-", (i*7919+1)%entities)}
				var got api.BatchGetResponse
				r := s.post("/v1/predictions:batchGet", `{"ids": ["`+strings.Join(ids, `", "`)+`"]}`)
				if r.status == http.StatusOK {
					r.json(t, &got)
				}
				if r.status != http.StatusOK || len(got.Predictions) != len(ids) {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("batchGet %v: status %d: %s", ids, r.status, r.body))
					mu.Unlock()
					continue
				}
				for _, p := range got.Predictions {
					if p.Coverage.Offset < seen[p.EntityId] {
						mu.Lock()
						problems = append(problems, fmt.Sprintf("%s: coverage went back from %d to %d", p.EntityId, seen[p.EntityId], p.Coverage.Offset))
						mu.Unlock()
					}
					seen[p.EntityId] = p.Coverage.Offset
				}
				answered.Add(1)
			}
		})
	}
	for run := range int64(3) {
		time.Sleep(200 * time.Millisecond)
		offset := 200 + 100*run
		s.record([]int64{offset, offset, offset}, asOf.Add(time.Duration(run+1)*time.Minute), runRows(entities, offset, asOf.Add(time.Duration(run+1)*time.Minute), 0.2)...)
	}
	testenv.WaitFor(t, 10*time.Second, "the last run served", func() bool { return s.preds.ServedRun().ID == 4 })
	before := answered.Load()
	testenv.WaitFor(t, 10*time.Second, "more answers after the switch", func() bool { return answered.Load() > before+100 })
	cancel()
	wg.Wait()
	if len(problems) > 0 {
		t.Errorf("%d problems in %d answers, the first: %s", len(problems), answered.Load(), strings.Join(problems[:min(5, len(problems))], "\n"))
	}
	t.Logf("%d batchGets answered across 3 publishes of %d entities", answered.Load(), entities)
}

// TestReplicaNotReadyUntilLoaded: an API started after a publish is not ready, and
// says why, until it has loaded the published run's view; then it answers from it.
func TestReplicaNotReadyUntilLoaded(t *testing.T) {
	s := newStack(t, stackOptions{proxies: true})
	asOf := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	run := s.publish([]int64{100, 100, 100}, asOf, runRows(10, 100, asOf, 0.1)...)

	// A second replica, started while its ClickHouse is unreachable.
	s.chProxy.cut()
	stream := testenv.ClickHouseStream(s.db)
	stream.Addr = s.chProxy.addr
	preds := predict.New(views.NewBatch(stream, s.db), views.NewSpeed(s.pg), runs.NewReader(s.pg), predict.Config{RunPoll: 100 * time.Millisecond}, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		preds.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	srv, err := servinglayer.NewServer(servinglayer.Deps{Predictions: preds, FeatureNames: featureNames}, servinglayer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	replica := &stack{t: t, url: serve(t, srv), client: s.client}

	testenv.WaitFor(t, 10*time.Second, "a failed load", func() bool {
		res := replica.get("/readyz")
		var body struct {
			Status  api.ReadinessStatus `json:"status"`
			Failing map[string]string   `json:"failing"`
		}
		res.json(t, &body)
		return res.status == http.StatusServiceUnavailable && body.Status == api.ReadinessStatusUnavailable &&
			strings.Contains(body.Failing["batch view"], fmt.Sprintf("run %d cannot be loaded", run))
	})
	if r := replica.get(entityPath("e-1", "prediction")); r.status != http.StatusServiceUnavailable {
		t.Errorf("replica before its load: status %d: %s; want 503", r.status, r.body)
	}
	if r := s.get(entityPath("e-1", "prediction")); r.status != http.StatusOK {
		t.Errorf("first replica: status %d: %s; want 200 from its loaded run", r.status, r.body)
	}
	s.chProxy.restore()
	testenv.WaitFor(t, 10*time.Second, "GET /readyz = 200", func() bool { return replica.get("/readyz").status == http.StatusOK })
	var p api.Prediction
	if r := replica.get(entityPath("e-1", "prediction")); r.status != http.StatusOK {
		t.Fatalf("replica after its load: status %d: %s", r.status, r.body)
	} else if r.json(t, &p); p.Batch == nil || p.Batch.RunId != run || p.Degraded {
		t.Errorf("replica after its load: %s", r.body)
	}
}

// TestSpeedRowChangesSeen: an answer cached from the speed view changes as soon as the
// speed row does — PostgreSQL announces every change — and the entity's answer then
// comes from the new row.
func TestSpeedRowChangesSeen(t *testing.T) {
	s := newStack(t, stackOptions{})
	f := newFixture(s)
	answer := func() api.Prediction {
		var p api.Prediction
		s.get(entityPath("speed-ahead", "prediction")).json(t, &p)
		return p
	}
	testenv.WaitFor(t, 5*time.Second, "speed cache hits", func() bool {
		if p := answer(); p.Source != "speed" || p.Score != 0.33 {
			t.Fatalf("speed-ahead: %+v", p)
		}
		return !strings.Contains(string(s.get("/metrics").body), `lambda_serving_speed_cache_requests_total{result="hit"} 0`)
	})
	row := predict.SpeedRow{EntityID: "speed-ahead", BaseRunID: f.run, Coverage: predict.Coverage{Partition: 1, Offset: 250, LastEvent: f.speed},
		AsOf: f.speed, UpdatedAt: time.Now(), Scored: true, Vector: f.vector, Score: 0.77, ModelName: "demo", ModelVersion: 2}
	written := time.Now()
	s.speedRows(row)
	testenv.WaitFor(t, 5*time.Second, "the new speed row answered", func() bool {
		p := answer()
		return p.Score == 0.77 && p.Coverage.Offset == 250
	})
	t.Logf("the changed speed row answered %s after its write", time.Since(written))
}
