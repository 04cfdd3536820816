package speedlayer_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/kafka"
)

// producerEnv names the variable that makes the test binary produce the benchmark's
// offered load (see TestMain); the producer reads its setup from the producer*
// variables.
const (
	producerEnv        = "LAMBDA_SPEEDLAYER_TEST_PRODUCER"
	producerBrokersEnv = "LAMBDA_SPEEDLAYER_TEST_PRODUCER_BROKERS"
	producerTopicEnv   = "LAMBDA_SPEEDLAYER_TEST_PRODUCER_TOPIC"
	producerRateEnv    = "LAMBDA_SPEEDLAYER_TEST_PRODUCER_RATE"
	producerCountEnv   = "LAMBDA_SPEEDLAYER_TEST_PRODUCER_COUNT"
	producerSkipEnv    = "LAMBDA_SPEEDLAYER_TEST_PRODUCER_SKIP"
)

// producerTick is how often the producer sends the events that are due.
const producerTick = 20 * time.Millisecond

// producerReady is the line the producer prints once its events are generated, as it
// starts sending them.
const producerReady = "producing"

// startProducer starts a process of this test binary that writes rate·seconds demo
// events of BenchmarkSpeedLayer's stream (after its first skip events) to the
// benchmark's topic, rate per second in ticks of producerTick, and exits. It returns
// once the producer starts sending.
func startProducer(b *testing.B, e *env, rate, seconds, skip int) *exec.Cmd {
	b.Helper()
	cmd := selfCommand(
		producerEnv+"=1",
		producerBrokersEnv+"="+strings.Join(e.brokers, ","),
		producerTopicEnv+"="+e.topic,
		producerRateEnv+"="+strconv.Itoa(rate),
		producerCountEnv+"="+strconv.Itoa(rate*seconds),
		producerSkipEnv+"="+strconv.Itoa(skip),
	)
	cmd.Stderr = b.Output()
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill() })
	if line, err := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != producerReady {
		b.Fatalf("producer: %q, %v", line, err)
	}
	return cmd
}

// runProducer is the producer process.
func runProducer() int {
	if err := produceOffered(); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		return 1
	}
	return 0
}

func produceOffered() error {
	num := func(name string) int { n, _ := strconv.Atoi(os.Getenv(name)); return n }
	rate, count, skip := num(producerRateEnv), num(producerCountEnv), num(producerSkipEnv)
	g := demogen.New(demogen.Config{Entities: 100_000, Seed: 9, EventsPerSecond: float64(rate)})
	for range skip {
		g.Next()
	}
	msgs := make([]kafkago.Message, count)
	for i := range msgs {
		msgs[i] = kafka.EventMessage(g.Next())
	}
	w, err := kafka.NewWriter(strings.Split(os.Getenv(producerBrokersEnv), ","), os.Getenv(producerTopicEnv))
	if err != nil {
		return err
	}
	defer w.Close()
	ctx := context.Background()
	perTick := max(1, rate*int(producerTick)/int(time.Second))
	fmt.Println(producerReady)
	start := time.Now()
	for i := 0; i < len(msgs); i += perTick {
		if err := w.WriteMessages(ctx, msgs[i:min(i+perTick, len(msgs))]...); err != nil {
			return err
		}
		time.Sleep(time.Until(start.Add(time.Duration(i/perTick+1) * producerTick)))
	}
	fmt.Fprintf(os.Stderr, "producer: %d events in %s\n", len(msgs), time.Since(start).Round(time.Millisecond))
	return nil
}
