package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/migrations"
)

type migrateConfig struct {
	Postgres   config.Postgres
	ClickHouse config.ClickHouse
	Log        config.Log
	Arch       architectureSettings
	Status     bool
}

func runMigrate(ctx context.Context, args []string) error {
	var cfg migrateConfig
	f := config.NewFlags("migrate", "lambda migrate: create the databases if missing and apply the PostgreSQL and ClickHouse migrations embedded in this binary (idempotent)")
	f.Add(&cfg.Postgres, &cfg.ClickHouse, &cfg.Log, &cfg.Arch)
	f.BoolVar(&cfg.Status, "status", false, "only report the current and latest versions")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	log.Info("config", "postgres", cfg.Postgres, "clickhouse", cfg.ClickHouse)
	if cfg.Status {
		return migrationStatus(ctx, cfg.Postgres, cfg.ClickHouse)
	}
	kappaMode, err := cfg.Arch.kappaMode()
	if err != nil {
		return err
	}
	ch := &cfg.ClickHouse
	if kappaMode {
		ch = nil // no batch layer: PostgreSQL alone
	}
	return migrateAll(ctx, cfg.Postgres, ch, log)
}

// migrateAll brings both databases to the schema this binary embeds; PostgreSQL alone
// when ch is nil (the Kappa architecture).
func migrateAll(ctx context.Context, pg config.Postgres, ch *config.ClickHouse, log *slog.Logger) error {
	if err := store.EnsurePostgresDatabase(ctx, pg.URL); err != nil {
		return err
	}
	pool, err := store.OpenPostgres(ctx, pg.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := migrations.Postgres(ctx, pool, log)
	if err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	log.Info("postgres migrated", "applied", n)
	if ch == nil {
		return nil
	}
	conn, err := store.OpenClickHouse(ctx, ch.Addr, "default", ch.Auth())
	if err != nil {
		return err
	}
	defer conn.Close()
	n, err = migrations.ClickHouse(ctx, conn, ch.Database, log)
	if err != nil {
		return fmt.Errorf("migrate clickhouse: %w", err)
	}
	log.Info("clickhouse migrated", "applied", n, "database", ch.Database)
	return nil
}

func migrationStatus(ctx context.Context, pg config.Postgres, ch config.ClickHouse) error {
	pool, err := store.OpenPostgres(ctx, pg.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	ps, err := migrations.PostgresStatus(ctx, pool)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	conn, err := store.OpenClickHouse(ctx, ch.Addr, "default", ch.Auth())
	if err != nil {
		return err
	}
	defer conn.Close()
	cs, err := migrations.ClickHouseStatus(ctx, conn, ch.Database)
	if err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	fmt.Printf("postgres:   version %d of %d (%d pending)\nclickhouse: version %d of %d (%d pending)\n",
		ps.Current, ps.Latest, len(ps.Pending), cs.Current, cs.Latest, len(cs.Pending))
	return nil
}
