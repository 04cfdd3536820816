package main

import (
	"context"
	"fmt"
	"os"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/report"
	"github.com/lambda-platform/lambda/internal/views"
)

func runReport(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "rollout" {
		fmt.Fprintln(os.Stderr, "lambda report: the Lambda trade-offs from this deployment's records\n\nUsage: lambda report rollout --run ID --replay ID")
		if len(args) == 0 {
			return nil
		}
		return fmt.Errorf("unknown report %q", args[0])
	}
	var (
		pg          config.Postgres
		ch          config.ClickHouse
		rt          config.Runtime
		logCfg      config.Log
		run, replay int64
	)
	f := config.NewFlags("report rollout", "lambda report rollout: one change rolled out the Lambda way (batch run --run) and the Kappa way (replay --replay), side by side: wall time, CPU seconds, peak heap, bytes read and stored, rows written, when the answers came, and how far the two views' answers are apart")
	f.Add(&pg, &ch, &rt, &logCfg)
	f.Int64Var(&run, "run", 0, "the batch run")
	f.Int64Var(&replay, "replay", 0, "the Kappa replay")
	log, err := parse(f, args[1:], &logCfg)
	if err != nil {
		return err
	}
	if run < 1 || replay < 1 {
		return fmt.Errorf("report rollout: --run and --replay are required")
	}
	if err := inference.InitRuntime(rt.ORTLib); err != nil {
		return err
	}
	pool, err := openPostgres(ctx, pg)
	if err != nil {
		return err
	}
	defer pool.Close()
	r, err := report.NewRollout(ctx, report.RolloutDeps{Postgres: pool, Batch: views.NewBatch(ch.Stream(), ch.Database),
		Models: registry.New(pool, log)}, run, replay)
	if err != nil {
		return err
	}
	return r.Write(os.Stdout)
}
