package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/kafka/embedded"
	"github.com/lambda-platform/lambda/internal/kafka/forward"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// quiet discards what the broker and the registry log.
var quiet = slog.New(slog.DiscardHandler)

const (
	anyEntities  = 40
	anyPerPhase  = 800 // events per phase, spread over the four producers
	anyForwarder = forward.DefaultGroupID
)

// TestAnyProducerCountsOnce sends one stream through every kind of producer users
// have — kcat with librdkafka's default partitioner (CRC32), kafka-go's default
// Writer (round-robin), keyless messages and POST /v1/events — plus one event_id
// sent to a stray partition before a batch cutoff and to its home after it, an event
// from 2100 through REST and Kafka, and a message that is not JSON. `lambda up` runs
// on a broker in this process, which kills it between the forwarder's produce and its
// commit once. Before the first batch run, after it, and after the next one, every
// entity's merged prediction and features must equal a recomputation from the unique
// valid events sent; the dead-letter topic holds exactly the invalid messages.
func TestAnyProducerCountsOnce(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed: `make services-up` installs it")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	lib, err := ortenv.Library()
	if err != nil {
		t.Fatal(err)
	}
	if err := inference.InitRuntime(lib); err != nil {
		t.Fatal(err)
	}
	broker, err := embedded.Start(ctx, embedded.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	brokers := broker.Addrs()[0]
	pool, pgURL := testenv.EmptyPostgres(t)
	_, chDB := testenv.EmptyClickHouse(t)
	token := randomToken(t)
	env := append(upEnv(t, pgURL, chDB), "LAMBDA_KAFKA_BROKERS="+brokers, "LAMBDA_ADMIN_TOKEN="+token,
		"LAMBDA_ORT_LIB="+lib, "LAMBDA_MODEL="+e2eModel, "LAMBDA_BATCH_SCHEDULE=@every 24h")
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", strconv.Itoa(anyEntities))
	model := activeModel(t, ctx, pool)

	up := start(t, env, "up")
	api := up.waitLine(t, "api", time.Minute)
	p := &producers{t: t, ctx: ctx, kcatBin: kcat, brokers: brokers, unique: map[string]map[string]event.Event{}}
	gen := demogen.New(demogen.Config{Entities: anyEntities, Seed: 11, Start: time.Now().Add(-3 * time.Hour), EventsPerSecond: 1})

	// Phase A, before any batch run.
	phaseA := take(gen, anyPerPhase)
	p.kcat(every(phaseA, 0))
	p.kafkaGo(every(phaseA, 1), true)
	p.kafkaGo(every(phaseA, 2), false)
	p.rest(api, every(phaseA, 3))
	straddle := phaseA[0]
	straddle.EventID = "straddle-1"
	p.toPartition(straddle, (kafka.PartitionFor(straddle.Key(), 6)+1)%6)
	from2100 := event.Event{EventID: "skew-1", EntityID: "clock-bad", Type: "click", TS: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	p.kcatLines(string(from2100.Key()) + "\t" + string(event.Encode(from2100)))
	p.kcatLines("user-000001\tnot json at all")
	code, _, body := call(t, http.MethodPost, api+"/v1/events", "", nil, event.Encode(from2100))
	if code != http.StatusBadRequest || !strings.Contains(string(body), `field \"ts\"`) {
		t.Fatalf("POST /v1/events from 2100 = %d %s, want 400 naming ts", code, body)
	}
	waitCommitted(t, ctx, brokers, anyForwarder)
	waitCommitted(t, ctx, brokers, e2eSpeed)
	p.checkAnswers(api, model, "before any batch run")

	// The first batch run, once the archiver has the forwarded copies. Both layers
	// skipped the invalid messages for the same reasons.
	waitCommitted(t, ctx, brokers, e2eArchiver)
	_, metrics := get(t, api+"/metrics")
	for _, m := range []string{"lambda_batch_archiver_skipped_messages_total", "lambda_speed_skipped_messages_total"} {
		for _, reason := range []string{kafka.ReasonClockSkew, kafka.ReasonSyntax} {
			if line := fmt.Sprintf("%s{reason=%q} 1\n", m, reason); !strings.Contains(metrics, line) {
				t.Errorf("/metrics lacks %q", line)
			}
		}
	}
	run1 := triggerRun(t, api, token)

	// Phase B. The forwarder is killed between producing copies and committing them.
	ends, err := kafka.EndOffsets(ctx, []string{brokers}, e2eTopic)
	if err != nil {
		t.Fatal(err)
	}
	var killed atomic.Bool
	broker.Intercept(kmsg.OffsetCommit.Int16(), func(req kmsg.Request) bool {
		r := req.(*kmsg.OffsetCommitRequest)
		if r.Group != anyForwarder || killed.Load() {
			return false
		}
		for _, tp := range r.Topics {
			for _, pt := range tp.Partitions {
				if pt.Offset > ends[int(pt.Partition)] {
					killed.Store(true)
					_ = up.cmd.Process.Signal(syscall.SIGKILL)
					return true
				}
			}
		}
		return false
	})
	phaseB := take(gen, anyPerPhase)
	p.kcat(every(phaseB, 0))
	p.kafkaGo(every(phaseB, 1), true)
	p.kafkaGo(every(phaseB, 2), false)
	testenv.WaitFor(t, 30*time.Second, "lambda up killed between the forwarder's produce and commit", func() bool {
		return killed.Load() && up.cmd.ProcessState != nil
	})
	up = start(t, env, "up")
	api = up.waitLine(t, "api", time.Minute)
	testenv.WaitFor(t, time.Minute, "GET /readyz = 200 after the restart", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })
	p.rest(api, append(every(phaseB, 3), straddle)) // the straddling event_id again, to its home partition
	waitCommitted(t, ctx, brokers, anyForwarder)
	waitCommitted(t, ctx, brokers, e2eSpeed)
	if n := p.forwardedTwice(); n == 0 {
		t.Fatal("no event was forwarded twice: the kill missed the window between produce and commit")
	} else {
		t.Logf("%d stray events forwarded twice after the kill", n)
	}
	p.checkAnswers(api, model, fmt.Sprintf("after batch run %d", run1))

	// The next batch run folds both copies of what was forwarded twice, and both
	// copies of the straddling event, once.
	waitCommitted(t, ctx, brokers, e2eArchiver)
	run2 := triggerRun(t, api, token)
	testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("the API serves run %d", run2), func() bool { return servedRun(t, api) == run2 })
	p.checkAnswers(api, model, fmt.Sprintf("after batch run %d", run2))

	if code, _ := get(t, api+"/v1/entities/clock-bad/prediction"); code != http.StatusNotFound {
		t.Errorf("clock-bad (its only event is from 2100): GET prediction = %d, want 404", code)
	}
	p.checkDeadLetters(map[string]string{kafka.ReasonClockSkew: string(event.Encode(from2100)), kafka.ReasonSyntax: "not json at all"})
	up.stop(t, 30*time.Second)
}

// producers sends events the ways users do and keeps the unique ones by entity.
type producers struct {
	t       *testing.T
	ctx     context.Context
	kcatBin string
	brokers string
	unique  map[string]map[string]event.Event // entity → event_id → event
}

func take(g *demogen.Generator, n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// every returns the events of evs at positions i, i+4, i+8, ...: one producer's share.
func every(evs []event.Event, i int) []event.Event {
	var out []event.Event
	for ; i < len(evs); i += 4 {
		out = append(out, evs[i])
	}
	return out
}

func (p *producers) keep(evs ...event.Event) {
	for _, e := range evs {
		if p.unique[e.EntityID] == nil {
			p.unique[e.EntityID] = map[string]event.Event{}
		}
		if _, dup := p.unique[e.EntityID][e.EventID]; !dup {
			p.unique[e.EntityID][e.EventID] = e
		}
	}
}

// kcat produces evs with kcat's defaults: key = entity_id, librdkafka's
// consistent_random partitioner.
func (p *producers) kcat(evs []event.Event) {
	lines := make([]string, len(evs))
	for i, e := range evs {
		lines[i] = e.EntityID + "\t" + string(event.Encode(e))
	}
	p.kcatLines(lines...)
	p.keep(evs...)
}

func (p *producers) kcatLines(lines ...string) {
	p.t.Helper()
	cmd := exec.CommandContext(p.ctx, p.kcatBin, "-b", p.brokers, "-t", e2eTopic, "-P", "-K", "\t")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("kcat -P: %v\n%s", err, out)
	}
}

// kafkaGo produces evs with kafka-go's default Writer (round-robin), keyed by
// entity_id or keyless, waiting for the broker's acknowledgement: with kafka-go's
// default acks=0 (fire and forget), what it writes to a broker that restarted since
// its last call is lost without an error.
func (p *producers) kafkaGo(evs []event.Event, keyed bool) {
	p.t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(p.brokers), Topic: e2eTopic, RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	msgs := make([]kafkago.Message, len(evs))
	for i, e := range evs {
		msgs[i].Value = event.Encode(e)
		if keyed {
			msgs[i].Key = e.Key()
		}
	}
	if err := w.WriteMessages(p.ctx, msgs...); err != nil {
		p.t.Fatalf("kafka-go produce: %v", err)
	}
	p.keep(evs...)
}

// toPartition produces e, keyed by its entity, to partition.
func (p *producers) toPartition(e event.Event, partition int) {
	p.t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(p.brokers), Topic: e2eTopic,
		Balancer: kafkago.BalancerFunc(func(kafkago.Message, ...int) int { return partition })}
	defer w.Close()
	if err := w.WriteMessages(p.ctx, kafkago.Message{Key: e.Key(), Value: event.Encode(e)}); err != nil {
		p.t.Fatal(err)
	}
	p.keep(e)
}

func (p *producers) rest(api string, evs []event.Event) {
	postEvents(p.t, api, evs, -1)
	p.keep(evs...)
}

// forwardedTwice counts the originals the log holds two or more copies of.
func (p *producers) forwardedTwice() int {
	copies := map[string]int{}
	for _, m := range readTopic(p.t, p.ctx, p.brokers, e2eTopic) {
		for _, h := range m.Headers {
			if h.Key == kafka.HeaderForwardedFrom {
				copies[string(h.Value)]++
			}
		}
	}
	n := 0
	for _, c := range copies {
		if c > 1 {
			n++
		}
	}
	return n
}

// checkAnswers waits until every entity's prediction and features equal the
// recomputation from its unique events, at the answer's as_of.
func (p *producers) checkAnswers(api string, model *inference.Model, stage string) {
	p.t.Helper()
	spec := features.DefaultSpec()
	var problems []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		problems = problems[:0]
		for id, evs := range p.unique {
			if msg := checkOne(p.t, api, spec, model, id, evs); msg != "" {
				problems = append(problems, msg)
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, msg := range problems[:min(len(problems), 10)] {
		p.t.Errorf("%s: %s", stage, msg)
	}
	if len(problems) > 0 {
		p.t.FailNow()
	}
	p.t.Logf("%s: %d entities answer the fold of their unique events", stage, len(p.unique))
}

// checkOne compares id's answers with the fold of evs; it returns what differs.
func checkOne(t *testing.T, api string, spec *features.Spec, model *inference.Model, id string, evs map[string]event.Event) string {
	folder := features.NewFolder(spec)
	newest := time.Time{}
	for _, e := range evs {
		folder.Add(e)
		if e.TS.After(newest) {
			newest = e.TS
		}
	}
	state := folder.States()[id]
	code, body := get(t, api+"/v1/entities/"+id+"/features")
	var f e2eFeatures
	if code != http.StatusOK || json.Unmarshal([]byte(body), &f) != nil {
		return fmt.Sprintf("%s: GET features = %d %.200s", id, code, body)
	}
	if f.AsOf.Before(newest.Truncate(time.Microsecond)) || f.AsOf.After(time.Now()) {
		return fmt.Sprintf("%s: as_of %s, want between its newest event %s and now", id, f.AsOf, newest)
	}
	want := state.Vector(f.AsOf)
	for i := range want {
		if math.Abs(float64(want[i]-f.Vector[i])) > 1e-6*max(1, math.Abs(float64(want[i]))) {
			return fmt.Sprintf("%s (%s, %d unique events): %s = %v, want %v", id, f.Source, len(evs), f.FeatureNames[i], f.Vector[i], want[i])
		}
	}
	code, body = get(t, api+"/v1/entities/"+id+"/prediction")
	var pr e2ePrediction
	if code != http.StatusOK || json.Unmarshal([]byte(body), &pr) != nil {
		return fmt.Sprintf("%s: GET prediction = %d %.200s", id, code, body)
	}
	score, err := model.ScoreOne(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	if !pr.AsOf.Equal(f.AsOf) || math.Abs(float64(pr.Score-score)) > e2eScoreTol {
		return fmt.Sprintf("%s: prediction %v as of %s, want %v as of %s", id, pr.Score, pr.AsOf, score, f.AsOf)
	}
	return ""
}

// checkDeadLetters checks the dead-letter topic holds exactly the values of want,
// each with its reason.
func (p *producers) checkDeadLetters(want map[string]string) {
	p.t.Helper()
	dead := readTopic(p.t, p.ctx, p.brokers, e2eTopic+".dlq")
	if len(dead) != len(want) {
		p.t.Errorf("%d dead letters, want %d", len(dead), len(want))
	}
	for _, m := range dead {
		var reason string
		for _, h := range m.Headers {
			if h.Key == forward.HeaderReason {
				reason = string(h.Value)
			}
		}
		if v, ok := want[reason]; !ok || !bytes.Equal(m.Value, []byte(v)) {
			p.t.Errorf("dead letter %q with reason %q, want one of %v", m.Value, reason, want)
		}
	}
}

// readTopic reads every message of topic.
func readTopic(t *testing.T, ctx context.Context, brokers, topic string) []kafkago.Message {
	t.Helper()
	ends, err := kafka.EndOffsets(ctx, []string{brokers}, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafkago.Message
	for part, end := range ends {
		if end == 0 {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{brokers}, Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				_ = r.Close()
				t.Fatalf("read %s/%d: %v", topic, part, err)
			}
			out = append(out, m)
			if m.Offset >= end-1 {
				break
			}
		}
		_ = r.Close()
	}
	return out
}

// triggerRun starts a batch run over REST and waits until it is published.
func triggerRun(t *testing.T, api, token string) int64 {
	t.Helper()
	code, _, body := call(t, http.MethodPost, api+"/v1/batch/runs", "Bearer "+token, nil, nil)
	var trig struct {
		Run e2eBatchRun `json:"run"`
	}
	if code != http.StatusAccepted || json.Unmarshal(body, &trig) != nil {
		t.Fatalf("POST /v1/batch/runs = %d %s", code, body)
	}
	testenv.WaitFor(t, time.Minute, fmt.Sprintf("batch run %d published", trig.Run.ID), func() bool {
		var r e2eBatchRun
		code, body := get(t, fmt.Sprintf("%s/v1/batch/runs/%d", api, trig.Run.ID))
		if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Status == "failed" {
			t.Fatalf("GET /v1/batch/runs/%d = %d %s", trig.Run.ID, code, body)
		}
		return r.Status == "published"
	})
	return trig.Run.ID
}

// servedRun is the run the API serves, 0 for none.
func servedRun(t *testing.T, api string) int64 {
	var s struct {
		ServedRun *struct {
			ID int64 `json:"id"`
		} `json:"served_run"`
	}
	_, body := get(t, api+"/v1/batch/schedule")
	if json.Unmarshal([]byte(body), &s) != nil || s.ServedRun == nil {
		return 0
	}
	return s.ServedRun.ID
}
