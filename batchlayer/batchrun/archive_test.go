package batchrun_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/master/mastertest"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestRunOnArchivedEvents goes through a real broker and the archiver: events
// produced to Kafka, archived into ClickHouse, cut at the archiver group's committed
// offsets, folded and scored.
func TestRunOnArchivedEvents(t *testing.T) {
	f := newFixture(t)
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, partitions)
	g := demogen.New(demogen.Config{Entities: 300, Seed: 5})
	events := make([]event.Event, 5000)
	for i := range events {
		events[i] = g.Next()
	}
	w, err := kafka.NewWriter(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEvents(t.Context(), events); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.logged = mastertest.Log(events, partitions, f.next) // where the producer put them

	const group = "test-archiver"
	ctx, stop := context.WithCancel(t.Context())
	archived := make(chan error, 1)
	a := archiver.New(archiver.Config{Brokers: brokers, Topic: topic, GroupID: group, Database: f.Database,
		FlushInterval: 100 * time.Millisecond}, f.ClickHouse, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	go func() { archived <- a.Run(ctx) }()
	coverage := func(ctx context.Context) (map[int]int64, error) {
		return archiver.Coverage(ctx, brokers, group, topic)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cov, err := coverage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, next := range cov {
			n += next
		}
		if n == int64(len(events)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("archived %d of %d events", n, len(events))
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-archived; err != nil {
		t.Fatal(err)
	}

	r, err := batchrun.New(t.Context(), batchrun.Deps{
		Postgres: f.Postgres, ClickHouse: f.ClickHouse, Events: f.Events, Models: &models{f: f},
		Coverage: batchrun.CoverageFunc(coverage),
	}, batchrun.Config{Database: f.Database})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	run := runToEnd(t, r)
	if run.Status != runs.StatusPublished || run.EventsRead != int64(len(events)) {
		t.Fatalf("run %s (%s) read %d events, want published, %d", run.Status, run.Error, run.EventsRead, len(events))
	}
	f.checkView(t, run)
}
