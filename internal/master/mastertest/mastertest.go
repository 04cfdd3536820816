// Package mastertest sets up what the tests of the master dataset and the batch layer
// share: a fresh PostgreSQL and ClickHouse database on the real servers, events appended to the master dataset as
// the archiver would (with Kafka partition and offset), a real ONNX model, and the
// expected result of a batch run computed directly with the shared folds.
package mastertest

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/internal/chstream"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// Env is one test's databases.
type Env struct {
	Postgres   *pgxpool.Pool
	ClickHouse driver.Conn
	Database   string
	Stream     chstream.Options
	Events     *master.Dataset
}

// New creates the test's databases (dropped when it ends).
func New(t testing.TB) *Env {
	t.Helper()
	pool, _ := testenv.Postgres(t)
	return NewClickHouse(t, pool)
}

// NewClickHouse creates only a ClickHouse database, next to pool's PostgreSQL one.
func NewClickHouse(t testing.TB, pool *pgxpool.Pool) *Env {
	t.Helper()
	conn, db := testenv.ClickHouse(t)
	stream := testenv.ClickHouseStream("")
	return &Env{Postgres: pool, ClickHouse: conn, Database: db, Stream: stream, Events: master.New(conn, stream, db)}
}

// Logged is an event where it sits in the log.
type Logged struct {
	event.Event
	Partition int32
	Offset    int64
}

// Log assigns events to partitions as a Kafka producer keyed by entity_id would,
// with offsets continuing from next (updated), as the archiver stores them.
func Log(events []event.Event, partitions int, next map[int]int64) []Logged {
	out := make([]Logged, len(events))
	for i, e := range events {
		p := kafka.PartitionFor(e.Key(), partitions)
		out[i] = Logged{Event: e, Partition: int32(p), Offset: next[p]}
		next[p]++
	}
	return out
}

// Insert appends rows to the master dataset with one insert; inserting rows again
// makes copies, as a redelivery to the archiver does.
func (e *Env) Insert(t testing.TB, rows []Logged) {
	t.Helper()
	var r master.Rows
	for _, l := range rows {
		r.Append(l.Partition, l.Offset, l.Event, time.Time{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.Events.Insert(ctx, &r); err != nil {
		t.Fatal(err)
	}
}

// LR is the logistic regression the tests score with: small weights, so that scores
// stay away from 0 and 1 and differences show.
func LR(width int) onnxmodel.LogisticRegression {
	lr := onnxmodel.LogisticRegression{W: make([]float32, width), B: -0.3}
	for i := range lr.W {
		lr.W[i] = float32(i%3-1) * 1e-3 / float32(i+1)
	}
	return lr
}

// Model loads lr as version 1 of model "test" on the real ONNX Runtime.
func Model(t testing.TB, lr onnxmodel.LogisticRegression, spec *features.Spec) *inference.Model {
	t.Helper()
	model, err := inference.LoadModel(ortenv.ONNX(t, lr), inference.Meta{Name: "test", Version: 1, Features: spec.FeatureNames()}, inference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = model.Close() })
	return model
}

// Want is an entity's expected batch view row.
type Want struct {
	State     []byte
	Vector    []float32
	Score     float32
	LastEvent time.Time
}

// Expect folds the logged events the cutoff includes (each once) with a Folder,
// takes vectors as of the newest included event time, and scores them with model:
// the result a batch run must reproduce. It returns the rows and the as_of.
func Expect(t testing.TB, spec *features.Spec, model *inference.Model, logged []Logged, cutoff master.Cutoff) (map[string]Want, time.Time) {
	t.Helper()
	f := features.NewFolder(spec)
	var newest time.Time
	for _, l := range logged {
		if !Included(l, cutoff) {
			continue
		}
		f.Add(l.Event)
		if l.TS.After(newest) {
			newest = l.TS
		}
	}
	asOf := time.UnixMicro(newest.UnixMicro()).UTC()
	want := map[string]Want{}
	var ids []string
	var x []float32
	for id, st := range f.States() {
		last, ok := st.Newest()
		if !ok {
			continue
		}
		b, _ := st.AppendBinary(nil)
		vec := st.Vector(asOf)
		want[id] = Want{State: b, Vector: vec, LastEvent: last}
		ids = append(ids, id)
		x = append(x, vec...)
	}
	if len(ids) > 0 {
		scores, err := model.ScoreFlat(context.Background(), x, spec.Len())
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			w := want[id]
			w.Score = scores[i]
			want[id] = w
		}
	}
	return want, asOf
}

// Included reports whether cutoff includes the logged event.
func Included(l Logged, cutoff master.Cutoff) bool {
	if l.Partition == master.ImportPartition {
		return l.Offset <= cutoff.Imported
	}
	return int(l.Partition) < len(cutoff.Offsets) && l.Offset <= cutoff.Offsets[l.Partition]
}
