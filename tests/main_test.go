// Package tests holds the end-to-end tests: they build the real binary and run it
// against the real servers (`make services-up`), each test in databases and a data
// directory of its own.
package tests

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// lambdaBin is the binary under test, built once by TestMain.
var lambdaBin string

func TestMain(m *testing.M) { testenv.MainWithLambda(m, &lambdaBin) }

// process is a running `lambda` command whose stderr is collected line by line.
type process struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan error
}

// start runs lambda with args and env added to the test's environment; the process is
// killed at cleanup if it still runs.
func start(t testing.TB, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(lambdaBin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start lambda %v: %v", args, err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		if err := sc.Err(); err != nil {
			p.mu.Lock()
			p.lines = append(p.lines, "(reading the output: "+err.Error()+")")
			p.mu.Unlock()
			_, _ = io.Copy(io.Discard, stderr)
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("lambda %v output:\n%s", args, p.output())
		}
	})
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// count is the number of lines so far that hold sub.
func (p *process) count(sub string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// waitLine waits until a line starting with prefix (after spaces) appears and returns
// the rest of it, trimmed.
func (p *process) waitLine(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	match := func(l string) (string, bool) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), prefix)
		return strings.TrimSpace(rest), ok
	}
	from := 0
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if rest, ok := p.find(&from, match); ok {
			return rest
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no line %q from lambda within %s", prefix, timeout)
	return ""
}

// lineCount is the number of lines the process has written so far.
func (p *process) lineCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// find returns what match made of the first line from the *from-th on it accepts,
// and moves *from past the lines it read.
func (p *process) find(from *int, match func(line string) (string, bool)) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ; *from < len(p.lines); *from++ {
		if got, ok := match(p.lines[*from]); ok {
			*from++
			return got, true
		}
	}
	return "", false
}

// kill SIGKILLs the process and waits for it to end.
func (p *process) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// stop sends SIGINT and waits for a clean exit.
func (p *process) stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("signal lambda: %v", err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("lambda exited with %v after SIGINT", err)
		}
	case <-time.After(timeout):
		t.Fatalf("lambda did not stop within %s of SIGINT", timeout)
	}
}

// run runs a lambda command to completion and returns its combined output.
func run(t testing.TB, ctx context.Context, env []string, args ...string) string {
	t.Helper()
	out, _ := runState(t, ctx, env, args...)
	return out
}

// runState is run that also returns the ended process's state: its resource usage
// (SysUsage) and run time are the command's own.
func runState(t testing.TB, ctx context.Context, env []string, args ...string) (string, *os.ProcessState) {
	t.Helper()
	cmd := exec.CommandContext(ctx, lambdaBin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lambda %v: %v\n%s", args, err, out)
	}
	return string(out), cmd.ProcessState
}

// dropDatabase drops the PostgreSQL database that url names.
func dropDatabase(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Errorf("drop database: %v", err)
		return
	}
	admin, err := store.WithDatabase(url, "postgres")
	if err != nil {
		t.Errorf("drop database: %v", err)
		return
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("drop database: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{cfg.Database}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("drop database %s: %v", cfg.Database, err)
	}
}

// freshPlatform initialises the ONNX Runtime in the test process and returns empty
// databases and the environment of `lambda` commands on them (upEnv) with an admin
// token, the runtime library and no scheduled batch run (only those a test triggers).
func freshPlatform(t testing.TB) (pool *pgxpool.Pool, env []string, token string) {
	t.Helper()
	lib, err := ortenv.Library()
	if err != nil {
		t.Fatalf("ONNX Runtime: %v", err)
	}
	if err := inference.InitRuntime(lib); err != nil {
		t.Fatalf("ONNX Runtime: %v", err)
	}
	pool, pgURL := testenv.EmptyPostgres(t)
	_, chDB := testenv.EmptyClickHouse(t)
	token = randomToken(t)
	env = append(upEnv(t, pgURL, chDB), "LAMBDA_ADMIN_TOKEN="+token, "LAMBDA_ORT_LIB="+lib, "LAMBDA_BATCH_SCHEDULE=@every 24h")
	return pool, env, token
}

// upEnv is the environment of a `lambda` command on the test's own databases, the
// embedded broker and loopback ports chosen by the system, with a fresh data dir.
func upEnv(t testing.TB, pgURL, chDB string) []string {
	return []string{
		"LAMBDA_POSTGRES_URL=" + pgURL,
		"LAMBDA_CLICKHOUSE_DATABASE=" + chDB,
		"LAMBDA_KAFKA_BROKERS=",
		"LAMBDA_KAFKA_EMBEDDED_ADDR=127.0.0.1:0",
		"LAMBDA_HTTP_ADDR=127.0.0.1:0",
		"LAMBDA_DATA_DIR=" + t.TempDir(),
	}
}
