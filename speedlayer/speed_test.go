package speedlayer_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/speedlayer"
)

// poison returns messages the layers must skip, by the reason they must count:
// invalid ones, and stray ones (their forwarded copy is what counts; no forwarder
// runs here).
func poison(evs []event.Event) map[string][]kafkago.Message {
	good := kafka.EventMessage(evs[0])
	mismatch := kafka.EventMessage(evs[1])
	mismatch.Key = []byte(evs[1].EntityID + "-other")
	future := evs[2]
	future.EventID, future.TS = "from-2100", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	keyless := kafka.EventMessage(evs[3])
	keyless.Key = nil
	return map[string][]kafkago.Message{
		kafka.ReasonSyntax:    {{Key: good.Key, Value: []byte(`{"event_id": "x", oops`)}},
		kafka.ReasonField:     {{Key: good.Key, Value: []byte(`{"event_id":"x","entity_id":"` + evs[0].EntityID + `","type":"view"}`)}},
		kafka.ReasonClockSkew: {kafka.EventMessage(future)},
		"stray":               {mismatch, keyless},
	}
}

// withDuplicates returns evs with n of them sent again (same event_id) at random later positions.
func withDuplicates(evs []event.Event, n int, seed uint64) []event.Event {
	r := rand.New(rand.NewPCG(seed, 3))
	out := slices.Clone(evs)
	for range n {
		i := r.IntN(len(evs))
		j := i + 1 + r.IntN(len(evs)-i)
		out = slices.Insert(out, min(j, len(out)), evs[i])
	}
	return out
}

func TestRowsEqualFoldOfAllEventsUpToCoverage(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	evs := demoEvents(8000, 1)
	e.produce(ctx, e.topic, eventMessages(evs[:4000])...)
	cut := e.ends(ctx)
	for p := range cut {
		cut[p]--
	}
	b := e.publish(ctx, e.readLog(ctx, e.ends(ctx)), cut)

	// After the cutoff: more events, producer retries (duplicate event ids), poison,
	// and one message in a partition its key does not hash to.
	after := withDuplicates(evs[4000:], 200, 1)
	bad := poison(after)
	msgs := eventMessages(after[:2000])
	for _, ms := range bad {
		msgs = append(msgs, ms...)
	}
	msgs = append(msgs, eventMessages(after[2000:])...)
	e.produce(ctx, e.topic, msgs...)
	wrong := kafka.EventMessage(after[0])
	wrongPartition := (kafka.PartitionFor(wrong.Key, testPartitions) + 1) % testPartitions
	w := &kafkago.Writer{Addr: kafkago.TCP(e.brokers...), Topic: e.topic,
		Balancer: kafkago.BalancerFunc(func(kafkago.Message, ...int) int { return wrongPartition })}
	if err := w.WriteMessages(ctx, wrong); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	e.produce(ctx, e.topic, eventMessages(after[len(after)-50:])...) // the stream goes on after the poison

	ends := e.ends(ctx)
	r := e.start("speed", e.pool, speedlayer.Config{MaxBatch: 700, MaxWait: 20 * time.Millisecond})
	e.waitCommitted(ctx, "speed", ends)
	r.stop(t)
	r.lint(t)
	if got, want := r.metric(t, "lambda_speed_events_total"), float64(len(after)+50); got != want {
		t.Errorf("lambda_speed_events_total = %v, want %v (every valid message after the cutoff)", got, want)
	}
	bad["stray"] = append(bad["stray"], wrong)
	for reason, ms := range bad {
		if got := r.metric(t, "lambda_speed_skipped_messages_total", "reason", reason); got != float64(len(ms)) {
			t.Errorf("lambda_speed_skipped_messages_total{reason=%q} = %v, want %d", reason, got, len(ms))
		}
	}
	if got := r.metric(t, "lambda_speed_event_latency_seconds"); got != float64(len(after)+50) {
		t.Errorf("lambda_speed_event_latency_seconds has %v samples, want %v", got, len(after)+50)
	}

	want := e.expected(ctx, e.readLog(ctx, ends), b)
	if len(want) < 100 {
		t.Fatalf("only %d entities with events after the cutoff: the test stream is too small", len(want))
	}
	if n := r.metric(t, "lambda_speed_delta_entities"); n < float64(len(want)) {
		t.Errorf("lambda_speed_delta_entities = %v, want at least the %d entities with rows", n, len(want))
	}
	compareRows(t, speedRows(ctx, t, e.pool), want)

}

// TestRowsAreRescoredWhenAModelArrives: rows written while no model is active are
// rescored once one is, whether or not events follow it.
func TestRowsAreRescoredWhenAModelArrives(t *testing.T) {
	for _, more := range []bool{true, false} {
		t.Run(map[bool]string{true: "events follow", false: "no event follows"}[more], func(t *testing.T) {
			rescoredWhenModelArrives(t, more)
		})
	}
}

func rescoredWhenModelArrives(t *testing.T, more bool) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	model, empty := e.holder, inference.NewHolder(nil)
	t.Cleanup(func() { _ = empty.Close() })
	e.holder = empty // no model yet, and no batch run either
	evs := demoEvents(3000, 4)
	e.produce(ctx, e.topic, eventMessages(evs[:2999])...)
	ends := e.ends(ctx)
	e.start("speed", e.pool, speedlayer.Config{})
	e.waitCommitted(ctx, "speed", ends)
	rows := speedRows(ctx, t, e.pool)
	if len(rows) < 100 {
		t.Fatalf("%d rows", len(rows))
	}
	for id, r := range rows {
		if r.Score != nil || r.Vector != nil || r.ModelName != nil || r.BaseRunID != nil {
			t.Fatalf("entity %s: %s, want an unscored row without a base run", id, r)
		}
	}

	m, err := testModel(e.spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.holder.Swap(m); err != nil {
		t.Fatal(err)
	}
	e.holder = model // for the expected scores
	if more {
		e.produce(ctx, e.topic, eventMessages(evs[2999:])...)
		ends = e.ends(ctx)
		e.waitCommitted(ctx, "speed", ends)
	}
	// The micro-batch that met the model is committed before every delta is rescored;
	// without one, the next poll for the published run notices the model.
	testenv.WaitFor(t, 30*time.Second, "every row rescored", func() bool {
		for _, r := range speedRows(ctx, t, e.pool) {
			if r.Score == nil {
				return false
			}
		}
		return true
	})
	compareRows(t, speedRows(ctx, t, e.pool), e.expected(ctx, e.readLog(ctx, ends), batchRun{}))
}
