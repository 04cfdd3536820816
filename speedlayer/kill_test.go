package speedlayer_test

import (
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/speedlayer"
)

// committed returns the sum of the offsets group has committed on the topic.
func (e *env) committed(ctx context.Context, group string) int64 {
	e.t.Helper()
	client := &kafkago.Client{Addr: kafkago.TCP(e.brokers...), Transport: &kafkago.Transport{}} // not the default transport, whose metadata cache may not know the test's new topic
	resp, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group,
		Topics: map[string][]int{e.topic: {0, 1, 2, 3}}})
	if err != nil {
		return 0
	}
	var n int64
	for _, po := range resp.Topics[e.topic] {
		n += max(0, po.CommittedOffset)
	}
	return n
}

// uncommittedRows counts the speed rows that cover an offset group has not committed.
func (e *env) uncommittedRows(ctx context.Context, group string) int {
	e.t.Helper()
	client := &kafkago.Client{Addr: kafkago.TCP(e.brokers...), Transport: &kafkago.Transport{}} // not the default transport, whose metadata cache may not know the test's new topic
	resp, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group,
		Topics: map[string][]int{e.topic: {0, 1, 2, 3}}})
	if err != nil {
		e.t.Fatal(err)
	}
	committed := make([]int64, testPartitions)
	for _, po := range resp.Topics[e.topic] {
		committed[po.Partition] = po.CommittedOffset
	}
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM speed_view WHERE covered_offset >= ($1::bigint[])[kafka_partition + 1]`,
		committed).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestKillAndRestartGivesSameRows(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	evs := withDuplicates(demoEvents(60000, 3), 500, 3)
	e.produce(ctx, e.topic, eventMessages(evs[:5000])...)
	cut := e.ends(ctx)
	for p := range cut {
		cut[p]--
	}
	b := e.publish(ctx, e.readLog(ctx, e.ends(ctx)), cut)
	msgs := eventMessages(evs[5000:])
	for _, ms := range poison(evs) {
		msgs = slices.Insert(msgs, 20000, ms...)
	}
	e.produce(ctx, e.topic, msgs...)
	ends := e.ends(ctx)
	var total int64
	for _, n := range ends {
		total += n
	}

	// The reference: a consumer that is never interrupted, into a database of its own.
	refPool, _ := testenv.Postgres(t)
	ref := e.start("reference", refPool, speedlayer.Config{MaxBatch: 300, MaxWait: 10 * time.Millisecond})

	// The victim: a child process that kills itself right after an upsert, before
	// the commit, then one SIGKILLed from outside at a random point, then one that
	// finishes.
	child := e.startChild(t, "killed", 300, 30)
	if err := child.Wait(); err == nil {
		t.Fatal("the child was to kill itself")
	}
	at := e.committed(ctx, "killed")
	ahead := e.uncommittedRows(ctx, "killed")
	if at >= total || ahead == 0 {
		t.Fatalf("killed after an upsert: %d of %d offsets committed, %d rows cover offsets not committed; want some of both", at, total, ahead)
	}
	t.Logf("the child killed itself after an upsert at %d of %d committed offsets, with %d rows covering offsets not committed", at, total, ahead)

	child = e.startChild(t, "killed", 300, 0)
	for e.committed(ctx, "killed") < at+(total-at)/3 {
		if ctx.Err() != nil {
			t.Fatal("the restarted child made no progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if at = e.committed(ctx, "killed"); at >= total {
		t.Fatalf("the child committed everything (%d of %d) before it was killed", at, total)
	}
	t.Logf("SIGKILLed the child at %d of %d committed offsets (%d rows cover offsets not committed)", at, total, e.uncommittedRows(ctx, "killed"))

	child = e.startChild(t, "killed", 300, 0)
	e.waitCommitted(ctx, "killed", ends)
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Errorf("child after SIGTERM: %v", err)
	}
	e.waitCommitted(ctx, "reference", ends)
	ref.stop(t)

	want := speedRows(ctx, t, refPool)
	compareRows(t, speedRows(ctx, t, e.pool), want)
	compareRows(t, want, e.expected(ctx, e.readLog(ctx, ends), b))
}
