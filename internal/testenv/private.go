package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lambda-platform/lambda/internal/store"
)

// Private servers: a PostgreSQL and a ClickHouse of the test's own, on free loopback
// ports with their data in a temporary directory, for tests that stop, kill and
// restart a server. The servers `make services-up` starts are shared and never
// touched. A missing binary fails the test (CI installs them with services-up).

// pgBinDir holds Debian's PostgreSQL 15 server binaries.
const pgBinDir = "/usr/lib/postgresql/15/bin"

// privateStartTimeout bounds a private server's start.
const privateStartTimeout = 30 * time.Second

// PrivatePostgres is a PostgreSQL cluster of the test's own.
type PrivatePostgres struct {
	// URL connects to its "postgres" database as user postgres (trust auth).
	URL  string
	dir  string // owns data/, the socket and the log
	port int
}

// StartPostgres initdbs a cluster in a temporary directory and starts it; it is stopped
// and removed when the test ends. Run as root, the server runs as user postgres.
func StartPostgres(t testing.TB) *PrivatePostgres {
	t.Helper()
	for _, bin := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(pgBinDir, bin)); err != nil {
			t.Fatalf("testenv: PostgreSQL 15 server binaries missing (%v); %s", err, servicesHint)
		}
	}
	dir, err := os.MkdirTemp("", "lambda-pg-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		if err := chownTo(dir, "postgres"); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	p := &PrivatePostgres{dir: dir, port: freePort(t)}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	p.pg(t, "initdb", "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	p.Start(t)
	t.Cleanup(func() {
		if p.running() {
			_, _ = p.command("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop").CombinedOutput()
		}
	})
	return p
}

// Start starts the stopped cluster on its port and waits until it accepts connections.
func (p *PrivatePostgres) Start(t testing.TB) {
	t.Helper()
	p.pg(t, "pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "postgres.log"), "-w", "-t", strconv.Itoa(int(privateStartTimeout.Seconds())),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.dir), "start")
	Eventually(t, privateStartTimeout, "the private PostgreSQL to accept connections", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, p.URL)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// StopImmediate stops the cluster the way a crash would (`pg_ctl stop -m immediate`:
// no checkpoint, connections cut); Start recovers it.
func (p *PrivatePostgres) StopImmediate(t testing.TB) {
	t.Helper()
	p.pg(t, "pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop")
}

func (p *PrivatePostgres) data() string { return filepath.Join(p.dir, "data") }

// running reports whether the cluster's postmaster.pid exists.
func (p *PrivatePostgres) running() bool {
	_, err := os.Stat(filepath.Join(p.data(), "postmaster.pid"))
	return err == nil
}

// pg runs one of the server binaries and fails the test with its output if it fails.
func (p *PrivatePostgres) pg(t testing.TB, bin string, args ...string) {
	t.Helper()
	if out, err := p.command(bin, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "postgres.log"))
		t.Fatalf("testenv: %s %v: %v\n%s\nserver log:\n%s", bin, args, err, out, log)
	}
}

// command is a server binary, run as user postgres when the test runs as root.
func (p *PrivatePostgres) command(bin string, args ...string) *exec.Cmd {
	path := filepath.Join(pgBinDir, bin)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// chownTo gives dir to the user name.
func chownTo(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("user %s for the private PostgreSQL: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

// PrivateClickHouse is a ClickHouse server of the test's own.
type PrivateClickHouse struct {
	// Addr is its native-protocol address.
	Addr     string
	bin, dir string
	httpPort int
	cmd      *exec.Cmd
	exited   chan struct{}
}

// StartClickHouse writes a self-contained configuration into a temporary directory and
// starts clickhouse-server on it; the server is killed and its data removed when the
// test ends.
func StartClickHouse(t testing.TB) *PrivateClickHouse {
	t.Helper()
	bin, err := exec.LookPath("clickhouse-server")
	if err != nil {
		t.Fatalf("testenv: clickhouse-server missing (%v); %s", err, servicesHint)
	}
	dir := t.TempDir()
	c := &PrivateClickHouse{bin: bin, dir: dir, httpPort: freePort(t)}
	tcpPort := freePort(t)
	c.Addr = fmt.Sprintf("127.0.0.1:%d", tcpPort)
	if err := writeClickHouseConfig(dir, tcpPort, c.httpPort); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c.Start(t)
	t.Cleanup(func() {
		if c.cmd != nil {
			c.kill()
		}
	})
	return c
}

// Start starts the server (again, on the same ports and data) and waits until it
// answers its HTTP ping and a native-protocol query.
func (c *PrivateClickHouse) Start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(c.bin, "--config-file="+filepath.Join(c.dir, "config.xml"))
	out, err := os.OpenFile(filepath.Join(c.dir, "server.out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start clickhouse-server: %v", err)
	}
	c.cmd, c.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(c.exited) }()
	ping := fmt.Sprintf("http://127.0.0.1:%d/ping", c.httpPort)
	Eventually(t, privateStartTimeout, "the private ClickHouse to answer", func() error {
		select {
		case <-c.exited:
			log, _ := os.ReadFile(filepath.Join(c.dir, "server.out"))
			t.Fatalf("testenv: clickhouse-server exited at start:\n%s", log)
		default:
		}
		resp, err := http.Get(ping)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ping: %s", resp.Status)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err := store.OpenClickHouse(ctx, c.Addr, "default", store.ClickHouseAuth{})
		if err != nil {
			return err
		}
		return conn.Close()
	})
}

// Kill SIGKILLs the server and waits until it is gone.
func (c *PrivateClickHouse) Kill(t testing.TB) {
	t.Helper()
	if c.cmd == nil {
		t.Fatal("testenv: the private ClickHouse is not running")
	}
	c.kill()
}

func (c *PrivateClickHouse) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
	c.cmd = nil
}

// writeClickHouseConfig writes config.xml and users.xml into dir for a server on the
// given loopback ports with its data, logs and files under dir: the configuration of
// scripts/services.sh, written by it.
func writeClickHouseConfig(dir string, tcpPort, httpPort int) error {
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "services.sh")
	cmd := exec.Command(script, "clickhouse-config", dir)
	cmd.Env = append(os.Environ(), "LAMBDA_RUN_DIR="+dir,
		"LAMBDA_CLICKHOUSE_PORT="+strconv.Itoa(tcpPort), "LAMBDA_CLICKHOUSE_HTTP_PORT="+strconv.Itoa(httpPort))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s clickhouse-config: %w: %s", script, err, out)
	}
	return nil
}

// freePort returns a loopback TCP port nothing listens on at the moment.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
