package speedlayer_test

import (
	"context"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/kafka/embedded"
	"github.com/lambda-platform/lambda/speedlayer"
)

// restartable is an embedded broker on a data directory that a test can restart.
type restartable struct {
	t    *testing.T
	opts embedded.Options
	b    *embedded.Broker
}

func startRestartable(t *testing.T) *restartable {
	r := &restartable{t: t, opts: embedded.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"}}
	r.start()
	r.opts.Addr = r.b.Addrs()[0] // the same address after a restart
	t.Cleanup(func() { r.b.Close() })
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := embedded.Start(ctx, r.opts, testLog(r.t))
	if err != nil {
		r.t.Fatalf("start embedded kafka: %v", err)
	}
	r.b = b
}

// restart closes the broker and starts another on its data directory and address.
func (r *restartable) restart() {
	r.b.Close()
	r.start()
}

// TestBrokerRestartGivesSameRows restarts the broker from its data directory on the
// same address while two members of the group consume, and again as they begin
// rebuilding their deltas on a newly published run (with thousands of records to
// replay after its cutoff). The rows end up those of an uninterrupted consumer: the
// fold of the log after the new run's cutoff.
func TestBrokerRestartGivesSameRows(t *testing.T) {
	broker := startRestartable(t)
	e := newEnvOn(t, broker.b.Addrs())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	evs := withDuplicates(demoEvents(30000, 5), 300, 5)
	e.produce(ctx, e.topic, eventMessages(evs[:3000])...)
	ends := e.ends(ctx)
	e.publish(ctx, e.readLog(ctx, ends), lastOffsets(ends))
	cfg := speedlayer.Config{MaxBatch: 500, MaxWait: 10 * time.Millisecond, PruneDelay: 300 * time.Millisecond}
	members := []*running{e.start("speed", e.pool, cfg), e.start("speed", e.pool, cfg)}

	// 1. While the members consume.
	e.produce(ctx, e.topic, eventMessages(evs[3000:10000])...)
	mid := e.ends(ctx)
	broker.restart()
	e.produce(ctx, e.topic, eventMessages(evs[10000:20000])...)
	e.waitCommitted(ctx, "speed", e.ends(ctx))

	// 2. As they begin rebuilding on a run whose cutoff is 10,000 records back.
	b2 := e.writeRun(ctx, e.readLog(ctx, mid), lastOffsets(mid))
	e.publishRun(ctx, b2)
	for members[0].metric(t, "lambda_speed_base_run_id") != float64(b2.run.ID) &&
		members[1].metric(t, "lambda_speed_base_run_id") != float64(b2.run.ID) {
		if ctx.Err() != nil {
			t.Fatalf("no member began rebuilding on run %d", b2.run.ID)
		}
		time.Sleep(time.Millisecond)
	}
	rebased := func() float64 {
		var n float64
		for _, m := range members {
			n += m.metric(t, "lambda_speed_rebase_duration_seconds", "kind", "rebase") +
				m.metric(t, "lambda_speed_rebase_duration_seconds", "kind", "prebuilt")
		}
		return n
	}
	before := rebased()
	broker.restart()
	t.Logf("broker restarted with %v of %d partitions rebased on run %d", before, testPartitions, b2.run.ID)
	e.produce(ctx, e.topic, eventMessages(evs[20000:])...)
	final := e.ends(ctx)
	e.waitCommitted(ctx, "speed", final)

	want := e.expected(ctx, e.readLog(ctx, final), b2)
	for {
		got := speedRows(ctx, t, e.pool)
		if len(rowDiffs(got, want)) == 0 || ctx.Err() != nil {
			compareRows(t, got, want)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if before >= testPartitions {
		t.Errorf("every partition was rebased before the restart: the restart missed the rebuilds")
	}
}
