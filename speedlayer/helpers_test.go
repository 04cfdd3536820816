package speedlayer_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/speedlayer"
	"github.com/lambda-platform/lambda/speedlayer/speedview"
)

const (
	// testSessionTimeout is the shortest session timeout the embedded broker accepts.
	testSessionTimeout = 6 * time.Second
	testPartitions     = 4
	modelName          = "speed-test"
)

// env is one test's servers: its own PostgreSQL and ClickHouse databases, topics on
// a broker, and the test model.
type env struct {
	t       testing.TB
	pool    *pgxpool.Pool
	pgURL   string
	ch      driver.Conn
	chDB    string
	brokers []string
	topic   string
	spec    *features.Spec
	holder  *inference.Holder
	// runs is the registry the consumers read (nil: the database's).
	runs speedlayer.Runs
}

// publishedOnly is the database's registry without the runs in progress: a consumer
// reading it prebuilds nothing and replays the log at every publish, as one started
// after a run recorded its cutoff does.
type publishedOnly struct{ *runs.Reader }

func (publishedOnly) Running(context.Context) (runs.Run, bool, error) { return runs.Run{}, false, nil }

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, testenv.Kafka(t))
}

// newEnvOn is newEnv on the given brokers.
func newEnvOn(t testing.TB, brokers []string) *env {
	t.Helper()
	e := &env{t: t, spec: features.DefaultSpec(), brokers: brokers}
	e.pool, e.pgURL = testenv.Postgres(t)
	e.ch, e.chDB = testenv.ClickHouse(t)
	e.topic = testenv.Topic(t, e.brokers, testPartitions)
	h, err := loadModel(e.spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	e.holder = h
	return e
}

// loadModel returns a holder serving testModel.
func loadModel(spec *features.Spec) (*inference.Holder, error) {
	m, err := testModel(spec)
	if err != nil {
		return nil, err
	}
	h := inference.NewHolder(nil)
	return h, h.Swap(m)
}

// testModel loads a logistic regression with fixed small weights (so that scores
// do not saturate on the spec's unscaled features).
func testModel(spec *features.Spec) (*inference.Model, error) {
	r := rand.New(rand.NewPCG(7, 7))
	w := make([]float32, spec.Len())
	for i := range w {
		w[i] = float32(r.NormFloat64() * 1e-4)
	}
	m, err := onnxmodel.LogisticRegression{W: w, B: 0.1}.Model()
	if err != nil {
		return nil, err
	}
	return inference.LoadModel(m.Marshal(), inference.Meta{Name: modelName, Version: 1, Features: spec.FeatureNames()}, inference.Options{})
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// demoEvents returns n demo events of a few hundred entities, with some late.
func demoEvents(n int, seed int64) []event.Event {
	g := demogen.New(demogen.Config{Entities: 300, Seed: seed, EventsPerSecond: 20})
	out := make([]event.Event, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// produce writes messages to topic.
func (e *env) produce(ctx context.Context, topic string, msgs ...kafkago.Message) {
	e.t.Helper()
	w, err := kafka.NewWriter(e.brokers, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	defer w.Close()
	for chunk := range slices.Chunk(msgs, 5000) {
		if err := w.WriteMessages(ctx, chunk...); err != nil {
			e.t.Fatalf("produce: %v", err)
		}
	}
}

func eventMessages(evs []event.Event) []kafkago.Message {
	msgs := make([]kafkago.Message, len(evs))
	for i, ev := range evs {
		msgs[i] = kafka.EventMessage(ev)
	}
	return msgs
}

// ends returns, per partition, the offset the next message of the topic gets.
func (e *env) ends(ctx context.Context) []int64 {
	e.t.Helper()
	reqs := make([]kafkago.OffsetRequest, testPartitions)
	for p := range reqs {
		reqs[p] = kafkago.LastOffsetOf(p)
	}
	client := &kafkago.Client{Addr: kafkago.TCP(e.brokers...), Transport: &kafkago.Transport{}} // not the default transport, whose metadata cache may not know the test's new topic
	resp, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{e.topic: reqs}})
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]int64, testPartitions)
	for _, po := range resp.Topics[e.topic] {
		if po.Error != nil {
			e.t.Fatal(po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out
}

// lastOffsets returns, per partition, the offset of the last message before ends:
// the cutoff of a run of everything up to ends.
func lastOffsets(ends []int64) []int64 {
	out := make([]int64, len(ends))
	for p, end := range ends {
		out[p] = end - 1
	}
	return out
}

// logRecord is a message of the topic and, if it is a home event (the only kind the
// layers fold), its event at its fold time.
type logRecord struct {
	partition int
	offset    int64
	valid     bool
	ev        event.Event
}

// readLog returns every message of the topic below ends, per partition in offset order.
func (e *env) readLog(ctx context.Context, ends []int64) [][]logRecord {
	e.t.Helper()
	out := make([][]logRecord, testPartitions)
	for p := range testPartitions {
		if ends[p] == 0 {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: e.brokers, Topic: e.topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				e.t.Fatal(err)
			}
			lr := logRecord{partition: p, offset: m.Offset}
			if read := kafka.ReadEvent(m, testPartitions, event.DefaultMaxClockSkew); read.Placement == kafka.Home {
				lr.valid, lr.ev = true, read.Event
				lr.ev.TS = event.FoldTime(lr.ev.TS, m.Time)
			}
			out[p] = append(out[p], lr)
			if m.Offset == ends[p]-1 {
				break
			}
		}
		_ = r.Close()
	}
	return out
}

// batchRun is a published batch run written by the test from the shared folds.
type batchRun struct {
	run      runs.Run
	entities map[string]bool // entities with a batch_view row
}

// publish writes a batch run of every valid event at or below cutoff (per
// partition) with the shared folds and the test model, and publishes it.
func (e *env) publish(ctx context.Context, log [][]logRecord, cutoff []int64) batchRun {
	e.t.Helper()
	b := e.writeRun(ctx, log, cutoff)
	e.publishRun(ctx, b)
	return b
}

// publishRun publishes a run writeRun wrote.
func (e *env) publishRun(ctx context.Context, b batchRun) {
	e.t.Helper()
	if _, err := runs.Publish(ctx, e.pool, b.run.ID, runs.Counts{EntitiesScored: int64(len(b.entities))}); err != nil {
		e.t.Fatal(err)
	}
}

// writeRun records a running batch run and writes its batch view, without
// publishing it.
func (e *env) writeRun(ctx context.Context, log [][]logRecord, cutoff []int64) batchRun {
	e.t.Helper()
	folder := features.NewFolder(e.spec)
	partition := map[string]int{}
	asOf := time.Time{}
	for p, recs := range log {
		for _, r := range recs {
			if r.valid && r.offset <= cutoff[p] {
				folder.Add(r.ev)
				partition[r.ev.EntityID] = p
				if r.ev.TS.After(asOf) {
					asOf = r.ev.TS
				}
			}
		}
	}
	asOf = asOf.Truncate(time.Microsecond)
	e.archive(ctx, log, cutoff)
	run, err := runs.Start(ctx, e.pool, runs.TriggerCLI, "speedlayer test")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := runs.SetCutoff(ctx, e.pool, run.ID, runs.Cutoff{Offsets: cutoff, Imported: -1, EventTime: asOf,
		ModelName: modelName, ModelVersion: 1}); err != nil {
		e.t.Fatal(err)
	}
	ins, err := e.ch.PrepareBatch(ctx, "INSERT INTO `"+e.chDB+"`.batch_view (run_id, entity_id, kafka_partition, "+
		"covered_offset, last_event_us, as_of_us, state, vector, score, model_name, model_version, written_at)")
	if err != nil {
		e.t.Fatal(err)
	}
	entities := map[string]bool{}
	for id, st := range folder.States() {
		newest, ok := st.Newest()
		if !ok {
			continue // labels only: no row, as in the batch layer
		}
		state, _ := st.AppendBinary(nil)
		vec := st.Vector(asOf)
		score, err := e.holder.ScoreOne(ctx, vec)
		if err != nil {
			e.t.Fatal(err)
		}
		p := partition[id]
		if err := ins.Append(uint64(run.ID), id, int32(p), cutoff[p], newest.UnixMicro(), asOf.UnixMicro(),
			string(state), vec, score, modelName, uint32(1), time.Now()); err != nil {
			e.t.Fatal(err)
		}
		entities[id] = true
	}
	if err := ins.Send(); err != nil {
		e.t.Fatal(err)
	}
	return batchRun{run: runs.Run{ID: run.ID, CutoffOffsets: slices.Clone(cutoff), CutoffEventTime: asOf}, entities: entities}
}

// archive writes the valid events at or below cutoff into the master dataset, as
// the archiver would have before a batch run took that cutoff.
func (e *env) archive(ctx context.Context, log [][]logRecord, cutoff []int64) {
	e.t.Helper()
	ins, err := e.ch.PrepareBatch(ctx, "INSERT INTO `"+e.chDB+"`.events (kafka_partition, kafka_offset, event_id, entity_id, type, ts, ts_us)")
	if err != nil {
		e.t.Fatal(err)
	}
	for p, recs := range log {
		for _, r := range recs {
			if r.valid && r.offset <= cutoff[p] {
				if err := ins.Append(int32(p), r.offset, r.ev.EventID, r.ev.EntityID, r.ev.Type, r.ev.TS, r.ev.TS.UnixMicro()); err != nil {
					e.t.Fatal(err)
				}
			}
		}
	}
	if err := ins.Send(); err != nil {
		e.t.Fatal(err)
	}
}

// deps wires a consumer to the test's servers and pool (the speed_view it writes).
func (e *env) deps(pool *pgxpool.Pool, holder *inference.Holder) speedlayer.Deps {
	registry := e.runs
	if registry == nil {
		registry = runs.NewReader(e.pool)
	}
	return speedlayer.Deps{
		Runs:    registry,
		Bases:   views.NewBatch(testenv.ClickHouseStream(""), e.chDB),
		Archive: master.New(e.ch, testenv.ClickHouseStream(""), e.chDB),
		View:    speedview.New(pool),
		Scorer:  speedlayer.HolderScorer{Holder: holder},
	}
}

// running is a consumer running in a goroutine.
type running struct {
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// start runs a consumer of group writing into pool until stop or the end of the test.
func (e *env) start(group string, pool *pgxpool.Pool, cfg speedlayer.Config) *running {
	e.t.Helper()
	cfg.Brokers, cfg.Topic, cfg.GroupID = e.brokers, e.topic, group
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = testSessionTimeout
	}
	if cfg.RunPoll == 0 {
		cfg.RunPoll = 100 * time.Millisecond
	}
	deps := e.deps(pool, e.holder)
	reg := prometheus.NewRegistry()
	c, err := speedlayer.New(cfg, e.spec, deps, reg, testLog(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- c.Run(ctx)
	}()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// stop ends the consumer and waits for it.
func (r *running) stop(t testing.TB) {
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("consumer: %v", err)
	}
	r.done <- nil // a second stop returns at once
}

// lint checks the consumer's metrics with promlint.
func (r *running) lint(t testing.TB) {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

// metric returns the sum of the samples (counter, gauge or histogram count) of the
// consumer's metric name whose labels include labels.
func (r *running) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	for _, m := range r.samples(t, name, labels...) {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}

// histogram returns the one histogram of the consumer's metric name whose labels
// include labels.
func (r *running) histogram(t testing.TB, name string, labels ...string) *dto.Histogram {
	t.Helper()
	ms := r.samples(t, name, labels...)
	if len(ms) != 1 {
		t.Fatalf("%d samples of %s%v, want 1", len(ms), name, labels)
	}
	return ms[0].GetHistogram()
}

// samples returns the consumer's samples of metric name whose labels include labels.
func (r *running) samples(t testing.TB, name string, labels ...string) []*dto.Metric {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.Metric {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// waitCommitted waits until group has committed ends on every partition.
func (e *env) waitCommitted(ctx context.Context, group string, ends []int64) {
	e.t.Helper()
	client := &kafkago.Client{Addr: kafkago.TCP(e.brokers...), Transport: &kafkago.Transport{}} // not the default transport, whose metadata cache may not know the test's new topic
	parts := make([]int, testPartitions)
	for p := range parts {
		parts[p] = p
	}
	for {
		resp, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{e.topic: parts}})
		if err == nil {
			reached := 0
			for _, po := range resp.Topics[e.topic] {
				if po.Error == nil && (ends[po.Partition] == 0 || po.CommittedOffset >= ends[po.Partition]) {
					reached++
				}
			}
			if reached == testPartitions {
				return
			}
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("group %s did not commit %v: %v (last error %v)", group, ends, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
