package migrations

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresLockKey is the advisory lock that serialises migrators on one database
// ("lambda" in ASCII). Advisory locks are per database, so databases do not contend.
const postgresLockKey int64 = 0x6c616d626461

// postgresUnlockTimeout bounds releasing the advisory lock after the context ended.
const postgresUnlockTimeout = 5 * time.Second

// Postgres applies the pending PostgreSQL migrations to the database pool connects to
// and returns how many it applied. It holds an advisory lock while it works, so
// concurrent callers, in any process, wait and then find nothing left to apply.
func Postgres(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (int, error) {
	ms, err := load("postgres")
	if err != nil {
		return 0, err
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("acquire postgres connection: %w", err)
	}
	defer c.Release()
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", postgresLockKey); err != nil {
		return 0, fmt.Errorf("take migration lock: %w", err)
	}
	defer unlockPostgres(ctx, c.Conn(), log)
	applied, err := migrate(ctx, postgresEngine{db: c.Conn()}, ms, log.With("engine", "postgres"))
	if err != nil {
		return applied, fmt.Errorf("migrate postgres: %w", err)
	}
	return applied, nil
}

// PostgresStatus reports the migration state of the database pool connects to,
// without changing it.
func PostgresStatus(ctx context.Context, pool *pgxpool.Pool) (Status, error) {
	ms, err := load("postgres")
	if err != nil {
		return Status{}, err
	}
	st, err := status(ctx, postgresEngine{db: pool}, ms)
	if err != nil {
		return Status{}, fmt.Errorf("postgres migration status: %w", err)
	}
	return st, nil
}

// unlockPostgres releases the migration lock, even after ctx ended. If that fails it
// closes the session, which releases the lock too.
func unlockPostgres(ctx context.Context, conn *pgx.Conn, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), postgresUnlockTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", postgresLockKey); err != nil {
		log.Warn("release migration lock; closing the session instead", "err", err)
		_ = conn.Close(ctx) // a closed connection is dropped by the pool on Release
	}
}

// postgresDB is the part of a pgx pool or connection the engine uses.
type postgresDB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// postgresEngine records versions in schema_migrations and runs each migration, with
// its record, in one transaction.
type postgresEngine struct {
	db postgresDB
}

func (e postgresEngine) prepare(ctx context.Context) error {
	_, err := e.db.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    int         PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`)
	return err
}

func (e postgresEngine) current(ctx context.Context) (int, error) {
	var exists bool
	if err := e.db.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := e.db.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

func (e postgresEngine) apply(ctx context.Context, m Migration) error {
	return pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, m.sql); err != nil { // no arguments: simple protocol, many statements
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
		return err
	})
}
