package forward_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/kafka/forward"
	"github.com/lambda-platform/lambda/internal/testenv"
)

const partitions = 6

// stream is what the tests produce: home events, stray ones (by kind) and invalid
// ones (by reason).
type stream struct {
	home    []kafkago.Message
	strays  []kafkago.Message
	invalid map[string]kafkago.Message
}

func newStream(n int) stream {
	s := stream{invalid: map[string]kafkago.Message{}}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		e := event.Event{EventID: fmt.Sprintf("ev-%d", i), EntityID: fmt.Sprintf("user-%03d", i%97), Type: "view", TS: now.Add(-time.Duration(i) * time.Second)}
		m := kafka.EventMessage(e)
		home := kafka.PartitionFor(m.Key, partitions)
		switch i % 10 {
		case 1: // another partition, as a CRC32 or round-robin partitioner would put it
			m.Partition = (home + 1) % partitions
			s.strays = append(s.strays, m)
		case 2: // keyless, anywhere
			m.Key, m.Partition = nil, i%partitions
			s.strays = append(s.strays, m)
		case 3: // in its home partition under another key
			m.Key, m.Partition = []byte("other-"+e.EntityID), home
			m.Headers = []kafkago.Header{{Key: "trace", Value: []byte("t-" + e.EventID)}}
			s.strays = append(s.strays, m)
		default:
			m.Partition = home
			s.home = append(s.home, m)
		}
	}
	bad := func(value string) kafkago.Message {
		return kafkago.Message{Key: []byte("user-001"), Value: []byte(value), Partition: kafka.PartitionFor([]byte("user-001"), partitions)}
	}
	s.invalid[kafka.ReasonSyntax] = bad(`{"event_id": oops`)
	s.invalid[kafka.ReasonField] = bad(`{"event_id":"x","entity_id":"user-001","type":"view"}`)
	s.invalid[kafka.ReasonTooLarge] = bad(`{"event_id":"` + strings.Repeat("x", 70_000) + `"}`)
	s.invalid[kafka.ReasonClockSkew] = bad(`{"event_id":"skew-1","entity_id":"user-001","type":"view","ts":"2100-01-01T00:00:00Z"}`)
	return s
}

func (s stream) all() []kafkago.Message {
	out := append(append([]kafkago.Message{}, s.home...), s.strays...)
	for _, m := range s.invalid {
		out = append(out, m)
	}
	return out
}

// produce writes msgs to the partitions they name.
func produce(t testing.TB, brokers []string, topic string, msgs []kafkago.Message) {
	t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, Transport: &kafkago.Transport{},
		Balancer: kafkago.BalancerFunc(func(m kafkago.Message, _ ...int) int { return m.Partition })}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// readAll returns every message of topic's partitions.
func readAll(t testing.TB, brokers []string, topic string, n int) [][]kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends := endOffsets(t, brokers, topic, n)
	out := make([][]kafkago.Message, n)
	for p := range n {
		if ends[p] == 0 {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 50 * time.Millisecond})
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
			out[p] = append(out[p], m)
			if m.Offset == ends[p]-1 {
				break
			}
		}
		_ = r.Close()
	}
	return out
}

// endOffsets returns the end offset of each of topic's n partitions. (kafka.EndOffsets
// has a transport of its own: the default one's metadata cache may not know a topic
// created a moment ago.)
func endOffsets(t testing.TB, brokers []string, topic string, n int) []int64 {
	t.Helper()
	ends, err := kafka.EndOffsets(context.Background(), brokers, topic)
	if err != nil || len(ends) != n {
		t.Fatalf("end offsets of %s: %v (%d partitions, want %d)", topic, err, len(ends), n)
	}
	out := make([]int64, n)
	for p, end := range ends {
		out[p] = end
	}
	return out
}

// waitCommitted waits until group has committed every offset of topic below ends.
func waitCommitted(t testing.TB, brokers []string, group, topic string, ends []int64) {
	t.Helper()
	testenv.WaitFor(t, time.Minute, "the forwarder committed the whole topic", func() bool {
		committed, err := kafka.Committed(context.Background(), brokers, group, topic)
		if err != nil {
			return false
		}
		for p, end := range ends {
			if committed[p] < end {
				return false
			}
		}
		return true
	})
}

// env is a topic, its dead-letter topic and a forwarder group on a broker.
type env struct {
	brokers           []string
	topic, dlq, group string
}

func newEnv(t *testing.T) env {
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, partitions)
	return env{brokers: brokers, topic: topic, dlq: testenv.Topic(t, brokers, 1), group: topic + "-forwarder"}
}

// run runs a forwarder with home as its producer of copies until the returned stop.
func (e env) run(t testing.TB, home forward.Producer, reg prometheus.Registerer) (stop func() error) {
	t.Helper()
	dlq, err := kafka.NewWriter(e.brokers, e.dlq)
	if err != nil {
		t.Fatal(err)
	}
	if home == nil {
		w, err := kafka.NewWriter(e.brokers, e.topic)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { prev := stop; stop = func() error { err := prev(); _ = w.Close(); return err } }()
		home = w
	}
	f, err := forward.New(forward.Config{Brokers: e.brokers, Topic: e.topic, GroupID: e.group, BatchMessages: 50,
		SessionTimeout: 6 * time.Second}, home, dlq, reg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	return func() error {
		cancel()
		err := <-done
		_ = dlq.Close()
		return err
	}
}

// check reads the topic and the dead-letter topic and checks that every stray of s
// has at least one copy (and at most maxCopies) at its home partition and the
// dead-letter topic holds exactly s's invalid messages; it returns the copies per
// stray event_id.
func (e env) check(t *testing.T, s stream, maxCopies int) map[string]int {
	t.Helper()
	copies := map[string]int{}
	log := readAll(t, e.brokers, e.topic, partitions)
	for p, msgs := range log {
		for _, m := range msgs {
			from := header(m, kafka.HeaderForwardedFrom)
			if from == "" {
				continue
			}
			read := kafka.ReadEvent(m, partitions, event.DefaultMaxClockSkew)
			if read.Placement != kafka.Home {
				t.Errorf("copy %s at %d/%d is not a home event: %+v", read.Event.EventID, p, m.Offset, read)
			}
			orig := log[atoi(t, strings.Split(from, "/")[0])][atoi(t, strings.Split(from, "/")[1])]
			if string(orig.Value) != string(m.Value) || !orig.Time.Equal(m.Time) || header(orig, "trace") != header(m, "trace") {
				t.Errorf("copy at %d/%d of %s: value, timestamp or headers differ from the original", p, m.Offset, from)
			}
			copies[read.Event.EventID]++
		}
	}
	for _, m := range s.strays {
		ev, _ := event.Decode(m.Value)
		if n := copies[ev.EventID]; n < 1 || n > maxCopies {
			t.Errorf("stray %s has %d copies at home, want 1 to %d", ev.EventID, n, maxCopies)
		}
	}
	if len(copies) != len(s.strays) {
		t.Errorf("%d events copied, want the %d strays", len(copies), len(s.strays))
	}
	dead := readAll(t, e.brokers, e.dlq, 1)[0]
	got := map[string]kafkago.Message{}
	for _, m := range dead {
		got[header(m, forward.HeaderReason)] = m
		if header(m, forward.HeaderError) == "" || header(m, forward.HeaderTopic) != e.topic || header(m, forward.HeaderConsumer) != e.group {
			t.Errorf("dead letter %q: headers %v", header(m, forward.HeaderReason), m.Headers)
		}
	}
	if len(dead) != len(s.invalid) {
		t.Errorf("%d dead letters, want %d", len(dead), len(s.invalid))
	}
	for reason, w := range s.invalid {
		if g, ok := got[reason]; !ok || string(g.Value) != string(w.Value) {
			t.Errorf("no dead letter %q with the original value", reason)
		}
	}
	return copies
}

func header(m kafkago.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func atoi(t testing.TB, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStraysForwardedHomeAndInvalidDeadLettered(t *testing.T) {
	e := newEnv(t)
	s := newStream(400)
	produce(t, e.brokers, e.topic, s.all())
	ends := endOffsets(t, e.brokers, e.topic, partitions)
	reg := prometheus.NewRegistry()
	stop := e.run(t, nil, reg)
	waitCommitted(t, e.brokers, e.group, e.topic, ends)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, n := range e.check(t, s, 1) {
		if n != 1 {
			t.Fatal("a stray forwarded twice without a crash")
		}
	}
	// The copies themselves are home events: a second round forwards nothing.
	waitCommitted(t, e.brokers, e.group, e.topic, ends)
	stop = e.run(t, nil, prometheus.NewRegistry())
	waitCommitted(t, e.brokers, e.group, e.topic, endOffsets(t, e.brokers, e.topic, partitions))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	e.check(t, s, 1)

	counts := map[string]float64{}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += "/" + l.GetValue()
			}
			counts[key] = m.GetCounter().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"lambda_ingest_messages_total/home":            float64(len(s.home) + len(s.strays)), // their copies too
		"lambda_ingest_messages_total/stray":           float64(len(s.strays)),
		"lambda_ingest_messages_total/invalid":         float64(len(s.invalid)),
		"lambda_ingest_dead_letters_total/clock_skew":  1,
		"lambda_ingest_dead_letters_total/syntax":      1,
		"lambda_ingest_forwarder_errors_total/produce": 0,
		"lambda_ingest_dead_letters_total/too_large":   1,
		"lambda_ingest_dead_letters_total/field":       1,
		"lambda_ingest_forwarded_events_total/" + "0":  countFrom(s, 0),
		"lambda_ingest_forwarded_events_total/" + "5":  countFrom(s, 5),
	} {
		if counts[key] != want {
			t.Errorf("%s = %v, want %v", key, counts[key], want)
		}
	}
}

func countFrom(s stream, p int) float64 {
	n := 0.0
	for _, m := range s.strays {
		if m.Partition == p {
			n++
		}
	}
	return n
}

// TestKilledBetweenProduceAndCommit: a forwarder killed after its copies were
// acknowledged and before it committed leaves copies the next one makes again —
// nothing is lost, and the extra copies are the same event (the layers fold an
// event_id once).
func TestKilledBetweenProduceAndCommit(t *testing.T) {
	e := newEnv(t)
	s := newStream(400)
	produce(t, e.brokers, e.topic, s.all())
	ends := endOffsets(t, e.brokers, e.topic, partitions)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join([]string{strings.Join(e.brokers, ","), e.topic, e.dlq, e.group}, ";"))
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Run(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child forwarder: %v, want killed after its first produce", err)
	}
	stop := e.run(t, nil, prometheus.NewRegistry())
	waitCommitted(t, e.brokers, e.group, e.topic, ends)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	twice := 0
	for _, n := range e.check(t, s, 2) {
		if n == 2 {
			twice++
		}
	}
	if twice == 0 {
		t.Fatal("no stray forwarded twice: the kill did not fall between produce and commit")
	}
	t.Logf("%d of %d strays forwarded twice", twice, len(s.strays))
}

// childEnv makes the test binary run a forwarder that kills itself right after
// its first copies were acknowledged: "brokers;topic;dlq;group".
const childEnv = "LAMBDA_FORWARD_TEST_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(runChild(strings.Split(v, ";")))
	}
	os.Exit(m.Run())
}

func runChild(args []string) int {
	brokers, topic, dlqTopic, group := strings.Split(args[0], ","), args[1], args[2], args[3]
	home, err := kafka.NewWriter(brokers, topic)
	if err != nil {
		return 1
	}
	dlq, err := kafka.NewWriter(brokers, dlqTopic)
	if err != nil {
		return 1
	}
	f, err := forward.New(forward.Config{Brokers: brokers, Topic: topic, GroupID: group, BatchMessages: 50},
		killAfterWrite{home}, dlq, prometheus.NewRegistry(), slog.Default())
	if err != nil {
		return 1
	}
	_ = f.Run(context.Background())
	return 1
}

// killAfterWrite SIGKILLs the process once its first write is acknowledged.
type killAfterWrite struct{ forward.Producer }

func (k killAfterWrite) WriteMessages(ctx context.Context, msgs ...kafkago.Message) error {
	if err := k.Producer.WriteMessages(ctx, msgs...); err != nil {
		return err
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
