package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/migrations"
)

// Postgres creates a fresh database on the PostgreSQL server of LAMBDA_POSTGRES_URL,
// applies the migrations, and returns a pool on it and its connection URL. The pool is
// closed and the database dropped when the test ends.
func Postgres(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool, dbURL := EmptyPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := migrations.Postgres(ctx, pool, logger(t)); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return pool, dbURL
}

// EmptyPostgres is Postgres without the migrations: the database has no tables.
func EmptyPostgres(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	server, err := store.WithDatabase(env(store.EnvPostgresURL, store.DefaultPostgresURL), "postgres")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL (%s) unreachable: %v; %s", store.EnvPostgresURL, err, servicesHint)
	}
	defer admin.Close(ctx)

	name := uniqueName()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropPostgres(t, server, name) })

	dbURL, err := store.WithDatabase(server, name)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	pool, err := store.OpenPostgres(ctx, dbURL)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, dbURL
}

// dropPostgres drops database name, disconnecting whoever still uses it.
func dropPostgres(t testing.TB, server, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Errorf("testenv: drop database %s: %v", name, err)
		return
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("testenv: drop database %s: %v", name, err)
	}
}
