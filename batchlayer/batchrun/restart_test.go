package batchrun_test

import (
	"testing"
	"time"

	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestPostgresRestartWhileRunning stops the registry's PostgreSQL (immediately, as a
// crash would) while a run scores, and starts it again 2 s later: the run waits for
// it, publishes its complete view and is served, instead of ending as a run the
// registry still calls running although nobody runs it.
func TestPostgresRestartWhileRunning(t *testing.T) {
	pg := testenv.StartPostgres(t)
	t.Setenv(store.EnvPostgresURL, pg.URL)
	f := newFixture(t)
	f.produce(t, 2000, 1)
	stopped := make(chan struct{})
	r := f.runner(t, batchrun.Config{}, &models{f: f, wrap: func(m batchrun.Model) batchrun.Model {
		return failingModel{Model: m, fail: func() error {
			select {
			case <-stopped:
			default:
				pg.StopImmediate(t)
				close(stopped)
			}
			return nil
		}}
	}})
	run, started, err := r.Trigger(t.Context(), runs.TriggerCLI, t.Name())
	if err != nil || !started {
		t.Fatalf("Trigger = %d, started %v, %v", run.ID, started, err)
	}
	<-stopped
	time.Sleep(2 * time.Second)
	pg.Start(t)
	done, err := r.Wait(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != runs.StatusPublished {
		t.Fatalf("run %d is %s (%s) after PostgreSQL's restart, want published", done.ID, done.Status, done.Error)
	}
	f.checkView(t, done)
	checkServed(t, f, done.ID)
}
