package speedlayer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/internal/chstream"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/speedlayer"
	"github.com/lambda-platform/lambda/speedlayer/speedview"
)

// childEnv names the variable that makes the test binary run a consumer (see
// TestMain); the child reads its setup from the childEnv* variables.
const (
	childEnv         = "LAMBDA_SPEEDLAYER_TEST_CHILD"
	childBrokersEnv  = "LAMBDA_SPEEDLAYER_TEST_BROKERS"
	childTopicEnv    = "LAMBDA_SPEEDLAYER_TEST_TOPIC"
	childGroupEnv    = "LAMBDA_SPEEDLAYER_TEST_GROUP"
	childPGEnv       = "LAMBDA_SPEEDLAYER_TEST_PG"
	childCHEnv       = "LAMBDA_SPEEDLAYER_TEST_CH"
	childMaxBatchEnv = "LAMBDA_SPEEDLAYER_TEST_MAX_BATCH"
	childKillEnv     = "LAMBDA_SPEEDLAYER_TEST_KILL_AFTER_UPSERTS"
)

// startChild runs a consumer of group in a child process writing into the test's
// speed_view; it is killed at the end of the test at the latest.
// With killAfter > 0 the child SIGKILLs itself right after its killAfter-th upsert
// succeeded: rows written, offsets not committed.
func (e *env) startChild(t *testing.T, group string, maxBatch, killAfter int) *exec.Cmd {
	t.Helper()
	cmd := selfCommand(
		childEnv+"=1",
		childBrokersEnv+"="+strings.Join(e.brokers, ","),
		childTopicEnv+"="+e.topic,
		childGroupEnv+"="+group,
		childPGEnv+"="+e.pgURL,
		childCHEnv+"="+e.chDB,
		childMaxBatchEnv+"="+strconv.Itoa(maxBatch),
		childKillEnv+"="+strconv.Itoa(killAfter),
	)
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// selfCommand is this test binary run again with env added to the environment, no test
// selected: TestMain picks the child's role from env.
func selfCommand(env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// runChild is the child process: a consumer set up from the environment, run until
// SIGTERM (or killed).
func runChild() int {
	if err := child(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func child() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	lib, err := ortenv.Library()
	if err != nil {
		return err
	}
	if err := inference.InitRuntime(lib); err != nil {
		return err
	}
	spec := features.DefaultSpec()
	holder, err := loadModel(spec)
	if err != nil {
		return err
	}
	defer holder.Close()
	pool, err := store.OpenPostgres(ctx, os.Getenv(childPGEnv))
	if err != nil {
		return err
	}
	defer pool.Close()
	chDB := os.Getenv(childCHEnv)
	chAddr := store.DefaultClickHouseAddr
	if v := os.Getenv(store.EnvClickHouseAddr); v != "" {
		chAddr = v
	}
	ch, err := store.OpenClickHouse(ctx, chAddr, chDB, store.ClickHouseAuth{})
	if err != nil {
		return err
	}
	defer ch.Close()
	brokers := strings.Split(os.Getenv(childBrokersEnv), ",")
	maxBatch, _ := strconv.Atoi(os.Getenv(childMaxBatchEnv))
	cfg := speedlayer.Config{Brokers: brokers, Topic: os.Getenv(childTopicEnv), GroupID: os.Getenv(childGroupEnv),
		MaxBatch: maxBatch, MaxWait: 10 * time.Millisecond, SessionTimeout: testSessionTimeout, RunPoll: 100 * time.Millisecond}
	deps := speedlayer.Deps{
		Runs:    runs.NewReader(pool),
		Bases:   views.NewBatch(chstream.Options{Addr: chAddr}, chDB),
		Archive: master.New(ch, chstream.Options{Addr: chAddr}, chDB),
		View:    speedview.New(pool),
		Scorer:  speedlayer.HolderScorer{Holder: holder},
	}
	if n, _ := strconv.Atoi(os.Getenv(childKillEnv)); n > 0 {
		deps.View = &killingView{View: deps.View, after: n}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("process", "child", "pid", os.Getpid())
	c, err := speedlayer.New(cfg, spec, deps, prometheus.NewRegistry(), log)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// killingView kills the process right after its after-th successful upsert.
type killingView struct {
	speedlayer.View
	after, n int
}

func (v *killingView) Upsert(ctx context.Context, model speedlayer.Model, rows []speedlayer.Row) (int64, error) {
	n, err := v.View.Upsert(ctx, model, rows)
	if err == nil {
		if v.n++; v.n == v.after {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	return n, err
}
