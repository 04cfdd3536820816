package main

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/migrations"
)

// openPostgres connects and checks that the schema is the one this binary embeds, so a
// command never runs against a database that `lambda migrate` has not brought up to date.
func openPostgres(ctx context.Context, pg config.Postgres) (*pgxpool.Pool, error) {
	pool, err := store.OpenPostgres(ctx, pg.URL)
	if err != nil {
		return nil, err
	}
	st, err := migrations.PostgresStatus(ctx, pool)
	if err == nil {
		err = schemaCurrent("postgres", st)
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// openClickHouse is openPostgres for ClickHouse: a connection to the platform's
// database, whose schema is checked.
func openClickHouse(ctx context.Context, ch config.ClickHouse) (driver.Conn, error) {
	conn, err := store.OpenClickHouse(ctx, ch.Addr, ch.Database, ch.Auth())
	if err != nil {
		return nil, err
	}
	st, err := migrations.ClickHouseStatus(ctx, conn, ch.Database)
	if err == nil {
		err = schemaCurrent("clickhouse", st)
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

func schemaCurrent(engine string, st migrations.Status) error {
	if st.Current < st.Latest {
		return fmt.Errorf("%s schema is at version %d, this binary needs %d: run `lambda migrate`", engine, st.Current, st.Latest)
	}
	return nil
}
