package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/speedlayer"
)

// The end-to-end scenario's shape.
const (
	e2eEntities    = 300
	e2eEventsA     = 3000 // per path (REST, Kafka) before the batch run
	e2eEventsB     = 1000 // per path after it (few enough to leave some entities quiet)
	e2eModel       = "demo"
	e2eNewEntity   = "e2e-new-000001" // an entity whose every event comes after the batch cutoff
	e2eArchiver    = archiver.DefaultGroupID
	e2eSpeed       = speedlayer.DefaultGroupID
	e2eTopic       = "events"
	e2eScoreTol    = 1e-5
	e2eRESTChunk   = 500 // events per POST /v1/events (the API takes at most 1000)
	e2eBadPosition = 17  // where the invalid event sits in the first REST chunk
)

// TestLambdaEndToEnd runs the real binary (`lambda up`, embedded broker, fresh
// databases) through a whole Lambda cycle and checks every merged answer against a
// score recomputed independently from the event log:
//
//  1. train and activate a model (`lambda model train --activate`);
//  2. produce a stream through POST /v1/events and straight to Kafka (`lambda produce`);
//  3. once the archiver has committed everything, trigger a batch run over REST (401
//     without the admin token) and wait until it is published;
//  4. keep producing through both paths: more demo events (some late) for the same
//     entities, hand-made events hours to days before the cutoff (some for entities
//     with no other new event), a new entity, and client retries (events sent again
//     with their event_id, before and after the cutoff), which must count once;
//  5. once the speed layer has committed everything and rebased on the run,
//  6. for every entity, GET /v1/entities/{id}/prediction, /features and one
//     POST /v1/predictions:batchGet must agree with each other and with the score
//     of the active model on the features folded from exactly the events the answer
//     says it covers (read back from Kafka), at the answer's as_of; source,
//     as_of, coverage, staleness and both views' values are checked too;
//  7. the model's fp32 file downloads with its sha256 as ETag, and 304 on a match.
func TestLambdaEndToEnd(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	pool, env, token := freshPlatform(t)
	env = append(env, "LAMBDA_MODEL="+e2eModel)

	// 1. A trained, active model before anything scores.
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "200000", "--entities", strconv.Itoa(e2eEntities))
	models := registry.New(pool, slog.New(slog.DiscardHandler))
	active, err := models.Active(ctx, e2eModel)
	if err != nil {
		t.Fatalf("active model after `lambda model train --activate`: %v", err)
	}
	fp32, artifact, err := models.ONNX(ctx, e2eModel, active.Version, registry.FP32)
	if err != nil {
		t.Fatalf("fp32 file of %s: %v", active, err)
	}
	model, err := inference.LoadModel(fp32, active.Meta(), inference.Options{Sessions: 1})
	if err != nil {
		t.Fatalf("load %s: %v", active, err)
	}
	t.Cleanup(func() { _ = model.Close() })
	spec := features.DefaultSpec()
	if !slices.Equal(active.Features, spec.FeatureNames()) {
		t.Fatalf("model %s takes %v, the default spec names %v", active, active.Features, spec.FeatureNames())
	}

	up := start(t, env, "up")
	api := up.waitLine(t, "api", time.Minute)
	brokers := strings.Fields(up.waitLine(t, "kafka", time.Second))[0]
	testenv.WaitFor(t, time.Minute, "GET /readyz = 200", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })

	// 2. The stream before the batch run: REST (with one invalid event) and Kafka.
	postDemoEvents(t, api, demogen.Config{Entities: e2eEntities, Seed: 101, Start: time.Now().Add(-e2eEventsA*10*time.Millisecond - 5*time.Second)}, e2eEventsA, true)
	run(t, ctx, env, "produce", "--seed", "202", "--entities", strconv.Itoa(e2eEntities), "--events", strconv.Itoa(e2eEventsA), "--kafka-brokers", brokers)

	// 3. The batch run, over REST, once the archiver has everything.
	endsA := waitCommitted(t, ctx, brokers, e2eArchiver)
	for _, auth := range []string{"", "Bearer not-the-token"} {
		code, hdr, body := call(t, http.MethodPost, api+"/v1/batch/runs", auth, nil, nil)
		if code != http.StatusUnauthorized || !strings.Contains(string(body), `"error"`) || hdr.Get("WWW-Authenticate") == "" {
			t.Fatalf("POST /v1/batch/runs with Authorization %q = %d %s (WWW-Authenticate %q), want 401 with an error body and a challenge",
				auth, code, body, hdr.Get("WWW-Authenticate"))
		}
	}
	code, _, body := call(t, http.MethodPost, api+"/v1/batch/runs", "Bearer "+token, nil, []byte(`{"requested_by":"e2e"}`))
	var trig struct {
		Started bool        `json:"started"`
		Run     e2eBatchRun `json:"run"`
	}
	if code != http.StatusAccepted || json.Unmarshal(body, &trig) != nil || !trig.Started || trig.Run.ID == 0 {
		t.Fatalf("POST /v1/batch/runs with the admin token = %d %s, want 202 with started and a run id", code, body)
	}
	var batchRun e2eBatchRun
	testenv.WaitFor(t, time.Minute, fmt.Sprintf("batch run %d published", trig.Run.ID), func() bool {
		code, body := get(t, fmt.Sprintf("%s/v1/batch/runs/%d", api, trig.Run.ID))
		if code != http.StatusOK || json.Unmarshal([]byte(body), &batchRun) != nil {
			t.Fatalf("GET /v1/batch/runs/%d = %d %s", trig.Run.ID, code, body)
		}
		if batchRun.Status == "failed" || batchRun.Status == "expired" {
			t.Fatalf("batch run %d: %s", trig.Run.ID, body)
		}
		return batchRun.Status == "published"
	})
	runID := batchRun.ID
	cutoff := batchRun.Cutoff.Offsets
	if len(cutoff) != len(endsA) {
		t.Fatalf("run %d: cutoff offsets %v for %d partitions", runID, cutoff, len(endsA))
	}
	for p, end := range endsA {
		if cutoff[p] != end-1 {
			t.Errorf("run %d: cutoff of partition %d is offset %d, want %d (everything archived before the trigger)", runID, p, cutoff[p], end-1)
		}
	}
	if batchRun.Cutoff.EventTime == nil {
		t.Fatalf("run %d has no cutoff event time: %+v", runID, batchRun)
	}
	cutoffTime := *batchRun.Cutoff.EventTime

	// 4. More events after the cutoff, through both paths, for the same entities.
	postDemoEvents(t, api, demogen.Config{Entities: e2eEntities, Seed: 303, Start: time.Now().Add(-e2eEventsB*10*time.Millisecond - 5*time.Second)}, e2eEventsB, false)
	run(t, ctx, env, "produce", "--seed", "404", "--entities", strconv.Itoa(e2eEntities), "--events", strconv.Itoa(e2eEventsB), "--kafka-brokers", brokers)
	// Hand-made late events (hours to days before the cutoff's event time): for
	// entities with no other event after the cutoff, so that a late event alone must
	// move them to the speed view, for the busiest ones, and for a new entity.
	log := readEventLog(t, ctx, brokers)
	var quiet []string
	for i := range e2eEntities {
		id := fmt.Sprintf("user-%06d", i)
		if recs := log.byEntity[id]; len(recs) > 0 && recs[len(recs)-1].offset <= cutoff[recs[0].partition] {
			quiet = append(quiet, id)
		}
	}
	if len(quiet) < 2 {
		t.Fatalf("only %d entities have no event after the cutoff (%v); the scenario needs 2", len(quiet), quiet)
	}
	quiet = quiet[:min(len(quiet), 4)]
	busy := busiest(log, cutoff, 2)
	late := lateEvents(cutoffTime, quiet[:len(quiet)/2], busy[:1], e2eNewEntity, true)
	lateKafka := lateEvents(cutoffTime.Add(-time.Minute), quiet[len(quiet)/2:], busy[1:2], e2eNewEntity, false)
	// Client retries: events the run already folded sent again with their event_id,
	// and an event sent twice after the cutoff. Each must count once.
	resent := func(id string, n int) []event.Event {
		var out []event.Event
		for _, r := range log.byEntity[id] {
			if len(out) < n && r.offset <= cutoff[r.partition] {
				out = append(out, r.ev)
			}
		}
		return out
	}
	late = append(append(late, late[0]), resent(busy[0], 2)...)
	lateKafka = append(lateKafka, resent(busy[1], 1)...)
	postEvents(t, api, late, -1)
	produceRaw(t, ctx, brokers, lateKafka)

	// 5. The speed layer has every event, and the API serves the run.
	endsB := waitCommitted(t, ctx, brokers, e2eSpeed)
	testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("the API serves run %d", runID), func() bool {
		var s struct {
			ServedRun *struct {
				ID int64 `json:"id"`
			} `json:"served_run"`
		}
		_, body := get(t, api+"/v1/batch/schedule")
		return json.Unmarshal([]byte(body), &s) == nil && s.ServedRun != nil && s.ServedRun.ID == runID
	})

	// 6. Every entity's merged answer against the recomputation from the log.
	log = readEventLog(t, ctx, brokers)
	for p, end := range endsB {
		if got := log.ends[p]; got != end {
			t.Fatalf("partition %d: read up to %d, the speed group committed %d", p, got, end)
		}
	}
	checkRun(t, batchRun, log, spec, active)
	if n := log.total - 2*(e2eEventsA+e2eEventsB); n != len(late)+len(lateKafka) {
		t.Errorf("the log holds %d hand-made events, want the %d sent", n, len(late)+len(lateKafka))
	}
	if n := len(log.byEntity[e2eNewEntity]); n != 4 {
		t.Errorf("%s has %d events in the log, want 4", e2eNewEntity, n)
	}
	ids := make([]string, 0, e2eEntities+1)
	for i := range e2eEntities {
		ids = append(ids, fmt.Sprintf("user-%06d", i))
	}
	ids = append(ids, e2eNewEntity)
	c := &e2eChecker{t: t, ctx: ctx, api: api, spec: spec, model: model, version: active, log: log,
		runID: runID, runAsOf: cutoffTime, cutoff: cutoff}
	// Rows written before the speed layer rebased on the run are exact too, but say
	// base run 0 and another as_of: wait until every row after the cutoff is rebased.
	testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("every speed row after the cutoff based on run %d", runID), func() bool {
		for _, a := range c.batchGet(ids).answers {
			s := a.Speed
			if s != nil && int(s.Coverage.Partition) < len(cutoff) && s.Coverage.Offset > cutoff[s.Coverage.Partition] &&
				(s.BaseRunID == nil || *s.BaseRunID != runID) {
				return false
			}
		}
		return true
	})
	const unknown = "e2e-never-seen"
	batchGet := c.batchGet(append(slices.Clip(ids), unknown))
	if code, body := get(t, api+"/v1/entities/"+unknown+"/prediction"); code != http.StatusNotFound || !strings.Contains(body, `"error"`) || !batchGet.notFound[unknown] {
		t.Errorf("unknown entity: GET prediction = %d %s, in batchGet's not_found %v; want 404 with an error body, and listed", code, body, batchGet.notFound[unknown])
	}
	var speed, batch, missing, both int
	for _, id := range ids {
		switch c.checkEntity(id, batchGet) {
		case "speed":
			speed++
		case "batch":
			batch++
		default:
			missing++
		}
		if a := batchGet.answers[id]; a.Batch != nil && a.Speed != nil {
			both++
		}
	}
	for _, id := range quiet {
		if a := batchGet.answers[id]; a.Source != "speed" {
			t.Errorf("%s: source %q, want speed: its only events after the cutoff are late ones", id, a.Source)
		}
	}
	if a := batchGet.answers[e2eNewEntity]; a.Source != "speed" || a.Batch != nil {
		t.Errorf("%s: source %q, batch value %v; want speed alone: all its events came after the cutoff", e2eNewEntity, a.Source, a.Batch != nil)
	}
	t.Logf("%d entities checked: %d answered by speed, %d by batch, %d in neither view, %d with both views' values; %d events in the log",
		len(ids), speed, batch, missing, both, log.total)
	if speed == 0 || batch == 0 {
		t.Errorf("answers by speed %d, by batch %d: the scenario should exercise both", speed, batch)
	}
	var list struct {
		Runs []e2eBatchRun `json:"runs"`
	}
	if code, body := get(t, api+"/v1/batch/runs"); code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list.Runs) != 1 || list.Runs[0].ID != runID {
		t.Errorf("GET /v1/batch/runs = %d %s, want run %d alone (the 401s started nothing)", code, body, runID)
	}

	// 7. The model file for edge clients.
	checkModelDownload(t, api, active, fp32, artifact)

	up.stop(t, 30*time.Second)
	t.Logf("end to end in %s", time.Since(began).Round(100*time.Millisecond))
}

// e2eBatchRun is the part of a BatchRun the test reads.
type e2eBatchRun struct {
	ID           int64  `json:"id"`
	Status       string `json:"status"`
	ModelName    string `json:"model_name"`
	ModelVersion int64  `json:"model_version"`
	Cutoff       struct {
		Offsets   []int64    `json:"offsets"`
		EventTime *time.Time `json:"event_time"`
	} `json:"cutoff"`
	Counts struct {
		EventsRead     int64 `json:"events_read"`
		EntitiesScored int64 `json:"entities_scored"`
		RowsWritten    int64 `json:"rows_written"`
	} `json:"counts"`
}

type e2eCoverage struct {
	Partition   int32      `json:"partition"`
	Offset      int64      `json:"offset"`
	LastEventAt *time.Time `json:"last_event_at"`
}

type e2ePrediction struct {
	EntityID         string      `json:"entity_id"`
	Score            float32     `json:"score"`
	Source           string      `json:"source"`
	ModelName        string      `json:"model_name"`
	ModelVersion     int64       `json:"model_version"`
	AsOf             time.Time   `json:"as_of"`
	Coverage         e2eCoverage `json:"coverage"`
	StalenessSeconds float64     `json:"staleness_seconds"`
	Degraded         bool        `json:"degraded"`
	Batch            *struct {
		RunID            int64       `json:"run_id"`
		Score            float32     `json:"score"`
		ModelName        string      `json:"model_name"`
		ModelVersion     int64       `json:"model_version"`
		AsOf             time.Time   `json:"as_of"`
		Coverage         e2eCoverage `json:"coverage"`
		StalenessSeconds float64     `json:"staleness_seconds"`
	} `json:"batch"`
	Speed *struct {
		BaseRunID        *int64      `json:"base_run_id"`
		Score            *float32    `json:"score"`
		ModelName        *string     `json:"model_name"`
		ModelVersion     *int64      `json:"model_version"`
		AsOf             time.Time   `json:"as_of"`
		Coverage         e2eCoverage `json:"coverage"`
		StalenessSeconds float64     `json:"staleness_seconds"`
	} `json:"speed"`
}

type e2eFeatures struct {
	EntityID     string      `json:"entity_id"`
	Source       string      `json:"source"`
	AsOf         time.Time   `json:"as_of"`
	Coverage     e2eCoverage `json:"coverage"`
	FeatureNames []string    `json:"feature_names"`
	Vector       []float32   `json:"vector"`
	Degraded     bool        `json:"degraded"`
}

// e2eWireEvent is an event as a REST client or a foreign Kafka producer writes it.
type e2eWireEvent struct {
	EventID  string            `json:"event_id"`
	EntityID string            `json:"entity_id"`
	Type     string            `json:"type"`
	TS       string            `json:"ts"`
	Value    *float64          `json:"value,omitempty"`
	Attrs    map[string]string `json:"attrs,omitempty"`
}

func wire(e event.Event) e2eWireEvent {
	return e2eWireEvent{EventID: e.EventID, EntityID: e.EntityID, Type: e.Type, TS: e.TS.UTC().Format(time.RFC3339Nano), Value: e.Value, Attrs: e.Attrs}
}

func randomToken(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// call sends a request with an optional Authorization header and JSON body.
func call(t testing.TB, method, url, auth string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, out
}

// postDemoEvents posts n demo events of cfg in chunks; with withInvalid the first
// chunk carries an invalid event at e2eBadPosition, which must be rejected alone.
func postDemoEvents(t *testing.T, api string, cfg demogen.Config, n int, withInvalid bool) {
	t.Helper()
	g := demogen.New(cfg)
	for sent := 0; sent < n; {
		chunk := make([]event.Event, 0, e2eRESTChunk)
		for len(chunk) < e2eRESTChunk && sent+len(chunk) < n {
			chunk = append(chunk, g.Next())
		}
		bad := -1
		if withInvalid && sent == 0 {
			bad = e2eBadPosition
		}
		postEvents(t, api, chunk, bad)
		sent += len(chunk)
	}
}

// postEvents posts events as one JSON array, with an event lacking its entity_id
// inserted at index bad when bad ≥ 0, and checks the 202 counts.
func postEvents(t *testing.T, api string, events []event.Event, bad int) {
	t.Helper()
	body := make([]any, 0, len(events)+1)
	for _, e := range events {
		body = append(body, wire(e))
	}
	if bad >= 0 {
		invalid := map[string]any{"event_id": "e2e-invalid", "type": "view", "ts": time.Now().UTC().Format(time.RFC3339Nano)}
		body = slices.Insert(body, bad, any(invalid))
	}
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	code, _, resp := call(t, http.MethodPost, api+"/v1/events", "", nil, raw)
	var got struct {
		Accepted   int `json:"accepted"`
		Rejected   int `json:"rejected"`
		Rejections []struct {
			Index int    `json:"index"`
			Error string `json:"error"`
		} `json:"rejections"`
	}
	if code != http.StatusAccepted || json.Unmarshal(resp, &got) != nil {
		t.Fatalf("POST /v1/events (%d events) = %d %s, want 202", len(body), code, resp)
	}
	wantRejected := 0
	if bad >= 0 {
		wantRejected = 1
	}
	if got.Accepted != len(events) || got.Rejected != wantRejected || len(got.Rejections) != wantRejected {
		t.Fatalf("POST /v1/events: accepted %d, rejected %d (%d rejections), want %d and %d: %s",
			got.Accepted, got.Rejected, len(got.Rejections), len(events), wantRejected, resp)
	}
	if bad >= 0 && (got.Rejections[0].Index != bad || !strings.Contains(got.Rejections[0].Error, "entity_id")) {
		t.Fatalf("POST /v1/events: rejection %+v, want index %d naming entity_id", got.Rejections[0], bad)
	}
}

// produceRaw writes events to the topic as a foreign producer would: plain kafka-go,
// JSON of its own, key = entity_id, murmur2 partitioning (the platform's contract).
func produceRaw(t *testing.T, ctx context.Context, brokers string, events []event.Event) {
	t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers), Topic: e2eTopic, Balancer: &kafkago.Murmur2Balancer{}, RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	msgs := make([]kafkago.Message, len(events))
	for i, e := range events {
		v, err := json.Marshal(wire(e))
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = kafkago.Message{Key: []byte(e.EntityID), Value: v}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %d events with kafka-go: %v", len(events), err)
	}
}

// lateEvents makes events for the entities whose times lie hours to days before
// the cutoff's event time c (a click 3 h, a purchase 5 h and 30 h, a view 10 days
// before), and for newEntity a purchase 2 h before c, with fresh a view and a click
// now too.
func lateEvents(c time.Time, quiet, busy []string, newEntity string, fresh bool) []event.Event {
	seq := 0
	mk := func(id, typ string, ts time.Time, value float64, category string) event.Event {
		seq++
		e := event.Event{EventID: fmt.Sprintf("e2e-late-%s-%d-%d", id, c.UnixMilli(), seq), EntityID: id, Type: typ, TS: ts.UTC()}
		if value > 0 {
			e.Value = &value
		}
		if category != "" {
			e.Attrs = map[string]string{"category": category, "device": "web"}
		}
		return e
	}
	var out []event.Event
	for _, id := range quiet {
		out = append(out, mk(id, "click", c.Add(-3*time.Hour), 0, "garden"))
	}
	for _, id := range busy {
		out = append(out,
			mk(id, "click", c.Add(-3*time.Hour), 0, "music"),
			mk(id, "purchase", c.Add(-5*time.Hour), 19.99, "books"),
			mk(id, "purchase", c.Add(-30*time.Hour), 250.5, "automotive"),
			mk(id, "view", c.Add(-240*time.Hour), 0, "toys"))
	}
	out = append(out, mk(newEntity, "purchase", c.Add(-2*time.Hour), 42, "games"))
	if fresh {
		now := time.Now()
		out = append(out, mk(newEntity, "view", now, 0, "games"), mk(newEntity, "click", now.Add(time.Millisecond), 0, "toys"))
	}
	return out
}

// logRecord is one message of the event topic.
type logRecord struct {
	partition int
	offset    int64
	ev        event.Event
}

// eventLog is the whole event topic as read back from Kafka.
type eventLog struct {
	ends        map[int]int64
	byPartition map[int][]logRecord // in offset order
	byEntity    map[string][]logRecord
	total       int
}

// readEventLog reads every message of the topic with kafka-go and decodes it; an
// event's ts is its fold time, never after its arrival (event.FoldTime).
func readEventLog(t *testing.T, ctx context.Context, brokers string) *eventLog {
	t.Helper()
	ends, err := kafka.EndOffsets(ctx, []string{brokers}, e2eTopic)
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	l := &eventLog{ends: ends, byPartition: map[int][]logRecord{}, byEntity: map[string][]logRecord{}}
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{brokers}, Topic: e2eTopic, Partition: p, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read partition %d: %v", p, err)
			}
			e, err := event.Decode(m.Value)
			if err != nil {
				r.Close()
				t.Fatalf("partition %d offset %d: %v", p, m.Offset, err)
			}
			if string(m.Key) != e.EntityID || kafka.PartitionFor(m.Key, len(ends)) != p {
				t.Errorf("partition %d offset %d: key %q, entity %q, want key = entity in partition %d", p, m.Offset, m.Key, e.EntityID, kafka.PartitionFor(m.Key, len(ends)))
			}
			e.TS = event.FoldTime(e.TS, m.Time) // the time the layers fold it at
			rec := logRecord{partition: p, offset: m.Offset, ev: e}
			l.byPartition[p] = append(l.byPartition[p], rec)
			l.byEntity[e.EntityID] = append(l.byEntity[e.EntityID], rec)
			l.total++
			if m.Offset >= end-1 {
				break
			}
		}
		r.Close()
	}
	return l
}

// busiest returns the n entities with the most events after the cutoff.
func busiest(l *eventLog, cutoff []int64, n int) []string {
	type count struct {
		id string
		n  int
	}
	var counts []count
	for id, recs := range l.byEntity {
		k := 0
		for _, r := range recs {
			if r.offset > cutoff[r.partition] {
				k++
			}
		}
		counts = append(counts, count{id, k})
	}
	slices.SortFunc(counts, func(a, b count) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]string, 0, n)
	for _, c := range counts[:n] {
		out = append(out, c.id)
	}
	return out
}

// fold folds the entity's records at or below offset.
func fold(spec *features.Spec, id string, recs []logRecord, offset int64) *features.State {
	f := features.NewFolder(spec)
	for _, r := range recs {
		if r.offset <= offset {
			f.Add(r.ev)
		}
	}
	if st := f.States()[id]; st != nil {
		return st
	}
	return spec.NewState()
}

// newestMicros is the newest event time, in unix µs, of recs with offsets in (from, to].
func newestMicros(recs []logRecord, from, to int64) int64 {
	newest := int64(math.MinInt64)
	for _, r := range recs {
		if r.offset > from && r.offset <= to {
			newest = max(newest, r.ev.TS.UnixMicro())
		}
	}
	return newest
}

// checkRun checks the published run against the log: it read exactly the records of
// its cutoff, scored every entity with a feature-relevant event among them, with the
// active model, and its as_of is their newest event time.
func checkRun(t *testing.T, r e2eBatchRun, l *eventLog, spec *features.Spec, active registry.Version) {
	t.Helper()
	var read int64
	newest := int64(math.MinInt64)
	for p, recs := range l.byPartition {
		read += int64(countUpTo(recs, r.Cutoff.Offsets[p]))
		newest = max(newest, newestMicros(recs, -1, r.Cutoff.Offsets[p]))
	}
	var scored int64
	for id, recs := range l.byEntity {
		if !fold(spec, id, recs, r.Cutoff.Offsets[recs[0].partition]).IsEmpty() {
			scored++
		}
	}
	if r.Counts.EventsRead != read || r.Counts.EntitiesScored != scored || r.Counts.RowsWritten != scored {
		t.Errorf("run %d counts %+v, want %d events read, %d entities scored and rows written", r.ID, r.Counts, read, scored)
	}
	if got := r.Cutoff.EventTime.UnixMicro(); got != newest {
		t.Errorf("run %d cutoff event time %s, want the newest event time it covers, %s", r.ID, r.Cutoff.EventTime, time.UnixMicro(newest).UTC())
	}
	if r.ModelName != active.Model || r.ModelVersion != active.Version {
		t.Errorf("run %d scored with %s@%d, want %s", r.ID, r.ModelName, r.ModelVersion, active)
	}
}

func countUpTo(recs []logRecord, offset int64) int {
	n := 0
	for _, r := range recs {
		if r.offset <= offset {
			n++
		}
	}
	return n
}

// waitCommitted waits until group has committed every message of the topic and
// returns the end offsets it reached.
func waitCommitted(t testing.TB, ctx context.Context, brokers, group string) map[int]int64 {
	t.Helper()
	return waitCommittedFor(t, ctx, brokers, group, time.Minute)
}

// waitCommittedFor is waitCommitted with patience d.
func waitCommittedFor(t testing.TB, ctx context.Context, brokers, group string, d time.Duration) map[int]int64 {
	t.Helper()
	var ends map[int]int64
	testenv.WaitFor(t, d, "consumer group "+group+" to commit every event", func() bool {
		var err error
		if ends, err = kafka.EndOffsets(ctx, []string{brokers}, e2eTopic); err != nil {
			t.Fatalf("end offsets: %v", err)
		}
		covered, err := kafka.Committed(ctx, []string{brokers}, group, e2eTopic)
		if err != nil {
			return false // the group may not exist yet
		}
		for p, end := range ends {
			if covered[p] < end {
				return false
			}
		}
		return true
	})
	return ends
}

// e2eChecker recomputes answers from the event log and compares them with the API's.
type e2eChecker struct {
	t       *testing.T
	ctx     context.Context
	api     string
	spec    *features.Spec
	model   *inference.Model
	version registry.Version
	log     *eventLog
	runID   int64
	runAsOf time.Time
	cutoff  []int64
}

// batchGetResult is one POST /v1/predictions:batchGet, by entity.
type batchGetResult struct {
	answers  map[string]e2ePrediction
	notFound map[string]bool
	sent     time.Time
	received time.Time
}

func (c *e2eChecker) batchGet(ids []string) batchGetResult {
	t := c.t
	t.Helper()
	body, _ := json.Marshal(map[string]any{"ids": ids})
	res := batchGetResult{answers: map[string]e2ePrediction{}, notFound: map[string]bool{}, sent: time.Now()}
	code, _, resp := call(t, http.MethodPost, c.api+"/v1/predictions:batchGet", "", nil, body)
	res.received = time.Now()
	var got struct {
		Predictions []e2ePrediction `json:"predictions"`
		NotFound    []string        `json:"not_found"`
		Unavailable []string        `json:"unavailable"`
		Degraded    bool            `json:"degraded"`
	}
	if code != http.StatusOK || json.Unmarshal(resp, &got) != nil {
		t.Fatalf("POST /v1/predictions:batchGet (%d ids) = %d %.500s", len(ids), code, resp)
	}
	if len(got.Unavailable) > 0 || got.Degraded {
		t.Fatalf("POST /v1/predictions:batchGet: degraded %v, unavailable %v, want neither", got.Degraded, got.Unavailable)
	}
	for _, p := range got.Predictions {
		res.answers[p.EntityID] = p
	}
	for _, id := range got.NotFound {
		res.notFound[id] = true
	}
	if len(res.answers)+len(res.notFound) != len(ids) {
		t.Fatalf("POST /v1/predictions:batchGet: %d predictions and %d not found for %d ids", len(res.answers), len(res.notFound), len(ids))
	}
	return res
}

// checkEntity checks everything the API says about id; it returns the source that
// answered, "" for an entity in neither view.
func (c *e2eChecker) checkEntity(id string, bg batchGetResult) string {
	t := c.t
	t.Helper()
	recs := c.log.byEntity[id]
	if len(recs) == 0 {
		t.Fatalf("%s: no event in the log", id)
	}
	p := recs[0].partition
	cp := c.cutoff[p]
	last := recs[len(recs)-1].offset
	pre := fold(c.spec, id, recs, cp)
	all := fold(c.spec, id, recs, last)

	sent := time.Now()
	code, _, body := call(t, http.MethodGet, c.api+"/v1/entities/"+id+"/prediction", "", nil, nil)
	received := time.Now()
	if all.IsEmpty() {
		// Only excluded (label) events: neither view holds it.
		if code != http.StatusNotFound || !strings.Contains(string(body), `"error"`) || !bg.notFound[id] {
			t.Errorf("%s (only label events): GET prediction = %d %s, in batchGet's not_found %v; want 404 and listed", id, code, body, bg.notFound[id])
		}
		return ""
	}
	var a e2ePrediction
	if code != http.StatusOK || json.Unmarshal(body, &a) != nil {
		t.Errorf("%s: GET prediction = %d %s, want 200", id, code, body)
		return ""
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: "+format+"\n  answer: %s", append(append([]any{id}, args...), body)...)
	}

	// Which view answers, and what it covers.
	wantSource := "batch"
	if last > cp {
		wantSource = "speed"
	}
	if a.Source != wantSource {
		fail("source %q, want %q (last event at offset %d of partition %d, batch cutoff %d)", a.Source, wantSource, last, p, cp)
		return a.Source
	}
	wantOffset, wantAsOf := cp, c.runAsOf.UnixMicro()
	if wantSource == "speed" {
		wantOffset, wantAsOf = last, max(wantAsOf, newestMicros(c.log.byPartition[p], cp, last))
	}
	if a.EntityID != id || a.Degraded || a.Coverage.Partition != int32(p) || a.Coverage.Offset != wantOffset {
		fail("entity %q, degraded %v, coverage partition %d offset %d; want partition %d offset %d, not degraded",
			a.EntityID, a.Degraded, a.Coverage.Partition, a.Coverage.Offset, p, wantOffset)
	}
	if got := a.AsOf.UnixMicro(); got != wantAsOf {
		fail("as_of %s, want %s (the newest event time the %s view covers)", a.AsOf.Format(time.RFC3339Nano), time.UnixMicro(wantAsOf).UTC().Format(time.RFC3339Nano), wantSource)
	}
	if a.ModelName != c.version.Model || a.ModelVersion != c.version.Version {
		fail("model %s@%d, want %s", a.ModelName, a.ModelVersion, c.version)
	}
	c.checkStaleness(id, "answer", a.StalenessSeconds, a.AsOf, sent, received)

	// The score, recomputed from exactly the events the answer covers.
	st := fold(c.spec, id, recs, a.Coverage.Offset)
	vec := st.AppendVector(nil, a.AsOf)
	want := c.score(id, vec)
	if math.Abs(float64(a.Score)-float64(want)) > e2eScoreTol {
		fail("score %.9g, recomputed %.9g from the %d events up to offset %d as of %s (|Δ| %.3g)",
			a.Score, want, countUpTo(recs, a.Coverage.Offset), a.Coverage.Offset, a.AsOf.Format(time.RFC3339Nano), math.Abs(float64(a.Score)-float64(want)))
	}
	if newest, _ := st.Newest(); a.Coverage.LastEventAt == nil || a.Coverage.LastEventAt.UnixMicro() != newest.UnixMicro() {
		fail("coverage.last_event_at %v, want %s", a.Coverage.LastEventAt, newest.Format(time.RFC3339Nano))
	}

	// Both views' own values.
	switch b := a.Batch; {
	case b == nil && !pre.IsEmpty():
		fail("no batch value, want run %d's row (it covers %d events of the entity)", c.runID, countUpTo(recs, cp))
	case b != nil && pre.IsEmpty():
		fail("a batch value, want none: the run covers no feature-relevant event of the entity")
	case b != nil:
		if b.RunID != c.runID || b.Coverage.Partition != int32(p) || b.Coverage.Offset != cp || !b.AsOf.Equal(c.runAsOf) ||
			b.ModelName != c.version.Model || b.ModelVersion != c.version.Version {
			fail("batch value run %d, partition %d offset %d, as_of %s, model %s@%d; want run %d, partition %d offset %d, as_of %s, %s",
				b.RunID, b.Coverage.Partition, b.Coverage.Offset, b.AsOf, b.ModelName, b.ModelVersion, c.runID, p, cp, c.runAsOf, c.version)
		}
		if want := c.score(id, pre.AppendVector(nil, c.runAsOf)); math.Abs(float64(b.Score)-float64(want)) > e2eScoreTol {
			fail("batch score %.9g, recomputed %.9g", b.Score, want)
		}
		c.checkStaleness(id, "batch value", b.StalenessSeconds, b.AsOf, sent, received)
	}
	switch s := a.Speed; {
	case s == nil && wantSource == "speed":
		fail("no speed value, but the speed view answers")
	case s != nil:
		if s.Score == nil || s.ModelName == nil || s.ModelVersion == nil || s.Coverage.Partition != int32(p) {
			fail("speed value unscored or in partition %d, want scored, partition %d", s.Coverage.Partition, p)
			break
		}
		// A row covering the cutoff only is left from before the run (pruned later).
		if s.Coverage.Offset > cp && (s.BaseRunID == nil || *s.BaseRunID != c.runID) {
			fail("speed value based on run %v, want run %d", s.BaseRunID, c.runID)
		}
		if *s.ModelName != c.version.Model || *s.ModelVersion != c.version.Version {
			fail("speed value model %s@%d, want %s", *s.ModelName, *s.ModelVersion, c.version)
		}
		sst := fold(c.spec, id, recs, s.Coverage.Offset)
		if want := c.score(id, sst.AppendVector(nil, s.AsOf)); math.Abs(float64(*s.Score)-float64(want)) > e2eScoreTol {
			fail("speed score %.9g, recomputed %.9g from the events up to offset %d as of %s", *s.Score, want, s.Coverage.Offset, s.AsOf.Format(time.RFC3339Nano))
		}
		c.checkStaleness(id, "speed value", s.StalenessSeconds, s.AsOf, sent, received)
	}

	// The features behind the answer.
	code, _, fbody := call(t, http.MethodGet, c.api+"/v1/entities/"+id+"/features", "", nil, nil)
	var f e2eFeatures
	if code != http.StatusOK || json.Unmarshal(fbody, &f) != nil {
		fail("GET features = %d %s, want 200", code, fbody)
	} else {
		if f.EntityID != id || f.Source != a.Source || !f.AsOf.Equal(a.AsOf) || f.Coverage.Offset != a.Coverage.Offset || f.Degraded {
			fail("features entity %q, source %q, as_of %s, offset %d, degraded %v; want those of the prediction",
				f.EntityID, f.Source, f.AsOf, f.Coverage.Offset, f.Degraded)
		}
		if !slices.Equal(f.FeatureNames, c.spec.FeatureNames()) {
			fail("feature_names %v, want the spec's %v", f.FeatureNames, c.spec.FeatureNames())
		}
		if !slices.Equal(f.Vector, vec) {
			fail("features vector\n  got  %v\n  want %v (recomputed)", f.Vector, vec)
		}
	}

	// The batchGet answer agrees.
	g, ok := bg.answers[id]
	switch {
	case !ok:
		fail("missing from batchGet (not found: %v)", bg.notFound[id])
	case g.Source != a.Source || g.Score != a.Score || !g.AsOf.Equal(a.AsOf) || g.Coverage.Partition != a.Coverage.Partition ||
		g.Coverage.Offset != a.Coverage.Offset || g.ModelName != a.ModelName || g.ModelVersion != a.ModelVersion ||
		(g.Batch == nil) != (a.Batch == nil) || (g.Batch != nil && g.Batch.Score != a.Batch.Score):
		fail("batchGet says source %q score %.9g as_of %s offset %d model %s@%d batch %v, GET says source %q score %.9g as_of %s offset %d",
			g.Source, g.Score, g.AsOf, g.Coverage.Offset, g.ModelName, g.ModelVersion, g.Batch != nil, a.Source, a.Score, a.AsOf, a.Coverage.Offset)
	default:
		c.checkStaleness(id, "batchGet answer", g.StalenessSeconds, g.AsOf, bg.sent, bg.received)
	}
	return a.Source
}

// checkStaleness checks that staleness is now − as_of for a now between the
// request's sending and its answer.
func (c *e2eChecker) checkStaleness(id, what string, got float64, asOf, sent, received time.Time) {
	c.t.Helper()
	lo, hi := max(0, sent.Sub(asOf).Seconds()), max(0, received.Sub(asOf).Seconds())
	if got < lo-1e-3 || got > hi+1e-3 {
		c.t.Errorf("%s: %s staleness_seconds %.3f, want now − as_of in [%.3f, %.3f] (as_of %s)", id, what, got, lo, hi, asOf.Format(time.RFC3339Nano))
	}
}

func (c *e2eChecker) score(id string, vec []float32) float32 {
	c.t.Helper()
	s, err := c.model.ScoreOne(c.ctx, vec)
	if err != nil {
		c.t.Fatalf("%s: score the recomputed vector: %v", id, err)
	}
	return s
}

// checkModelDownload downloads the active version's fp32 file as an edge client does.
func checkModelDownload(t *testing.T, api string, v registry.Version, fp32 []byte, a registry.Artifact) {
	t.Helper()
	url := fmt.Sprintf("%s/v1/models/%s/versions/%d/fp32.onnx", api, v.Model, v.Version)
	code, hdr, body := call(t, http.MethodGet, url, "", nil, nil)
	sum := sha256.Sum256(body)
	etag := hdr.Get("ETag")
	if code != http.StatusOK || !bytes.Equal(body, fp32) || etag != `"`+hex.EncodeToString(sum[:])+`"` || etag != `"`+a.SHA256+`"` {
		t.Fatalf("GET %s = %d, %d bytes (registry: %d), ETag %s; want 200, the registry's file, ETag = quoted sha256 %s",
			url, code, len(body), len(fp32), etag, hex.EncodeToString(sum[:]))
	}
	if cc := hdr.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("GET %s: Cache-Control %q, want immutable", url, cc)
	}
	code, hdr, body = call(t, http.MethodGet, url, "", http.Header{"If-None-Match": {etag}}, nil)
	if code != http.StatusNotModified || len(body) != 0 || hdr.Get("ETag") != etag {
		t.Errorf("GET %s with If-None-Match %s = %d, %d bytes, ETag %s; want 304, empty, same ETag", url, etag, code, len(body), hdr.Get("ETag"))
	}
	code, _, body = call(t, http.MethodGet, url, "", http.Header{"If-None-Match": {`"not-it"`}}, nil)
	if code != http.StatusOK || !bytes.Equal(body, fp32) {
		t.Errorf("GET %s with a stale If-None-Match = %d, %d bytes; want 200 and the file", url, code, len(body))
	}
}
