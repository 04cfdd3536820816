package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/kafka/embedded"
)

// crashDirEnv makes TestCrashHelperBroker run a broker on that data directory.
const crashDirEnv = "LAMBDA_TEST_CRASH_BROKER_DIR"

// TestCrashHelperBroker is the broker process TestKilledBrokerKeepsData kills:
// it prints its address and serves until killed. Run directly, it does nothing.
func TestCrashHelperBroker(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return
	}
	b, err := embedded.Start(context.Background(), embedded.Options{Dir: dir, Addr: "127.0.0.1:0"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("addr", b.Addrs()[0])
	select {}
}

// TestKilledBrokerKeepsData kills (SIGKILL, no Close) a broker process after
// produce and commits, then starts a broker on its data directory: the
// messages and the group's committed offsets are all there.
func TestKilledBrokerKeepsData(t *testing.T) {
	const (
		total  = 300
		before = 100
		group  = "crash"
	)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelperBroker$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr ")
	if err != nil || !ok {
		t.Fatalf("broker process said %q: %v", line, err)
	}
	brokers := []string{addr}

	produce(ctx, t, brokers, 3, total)
	seen := map[string]bool{}
	consume(ctx, t, brokers, group, before, seen)

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error is expected

	start(t, embedded.Options{Dir: dir, Addr: addr})
	consume(ctx, t, brokers, group, total-before, seen)
	all := map[string]bool{}
	consume(ctx, t, brokers, "replay", total, all)
	if len(seen) != total || len(all) != total {
		t.Errorf("read %d messages in the group and %d in replay, want %d", len(seen), len(all), total)
	}
}
