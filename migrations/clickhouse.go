package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// databaseName is what a ClickHouse database name may look like here; it is spliced
// into DDL, so nothing that needs escaping is allowed.
var databaseName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ClickHouse creates database if missing, applies the pending ClickHouse migrations to
// it and returns how many it applied. conn may have any default database (e.g.
// "default"): every statement names database explicitly.
func ClickHouse(ctx context.Context, conn driver.Conn, database string, log *slog.Logger) (int, error) {
	e, ms, err := clickHouseSetup(conn, database)
	if err != nil {
		return 0, err
	}
	applied, err := migrate(ctx, e, ms, log.With("engine", "clickhouse", "database", database))
	if err != nil {
		return applied, fmt.Errorf("migrate clickhouse database %s: %w", database, err)
	}
	return applied, nil
}

// ClickHouseStatus reports the migration state of database, without changing it.
func ClickHouseStatus(ctx context.Context, conn driver.Conn, database string) (Status, error) {
	e, ms, err := clickHouseSetup(conn, database)
	if err != nil {
		return Status{}, err
	}
	st, err := status(ctx, e, ms)
	if err != nil {
		return Status{}, fmt.Errorf("clickhouse database %s migration status: %w", database, err)
	}
	return st, nil
}

// clickHouseSetup checks database and loads the ClickHouse migrations.
func clickHouseSetup(conn driver.Conn, database string) (clickHouseEngine, []Migration, error) {
	if !databaseName.MatchString(database) {
		return clickHouseEngine{}, nil, fmt.Errorf("clickhouse database name %q: want letters, digits and _", database)
	}
	ms, err := load("clickhouse")
	if err != nil {
		return clickHouseEngine{}, nil, err
	}
	return clickHouseEngine{conn: conn, database: database}, ms, nil
}

// clickHouseEngine records versions in <database>.schema_migrations, written with the
// batch API (INSERT ... VALUES through Exec hangs on 18.16) and read with max, so a
// version recorded twice by concurrent migrators counts once.
type clickHouseEngine struct {
	conn     driver.Conn
	database string
}

func (e clickHouseEngine) prepare(ctx context.Context) error {
	if err := e.conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+e.database+"`"); err != nil {
		return err
	}
	return e.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS `"+e.database+"`.schema_migrations ("+
		"version UInt32, name String, applied_at DateTime"+
		") ENGINE = ReplacingMergeTree() ORDER BY version")
}

func (e clickHouseEngine) current(ctx context.Context) (int, error) {
	var tables uint64
	err := e.conn.QueryRow(ctx,
		"SELECT count() FROM system.tables WHERE database = ? AND name = 'schema_migrations'", e.database,
	).Scan(&tables)
	if err != nil || tables == 0 {
		return 0, err
	}
	var v uint32
	err = e.conn.QueryRow(ctx, "SELECT max(version) FROM `"+e.database+"`.schema_migrations").Scan(&v)
	return int(v), err
}

func (e clickHouseEngine) apply(ctx context.Context, m Migration) error {
	script := strings.ReplaceAll(m.sql, "${database}", "`"+e.database+"`")
	for i, stmt := range statements(script) {
		if err := e.conn.Exec(ctx, stmt); err != nil && !alreadyAdded(stmt, err) {
			return fmt.Errorf("statement %d: %w", i+1, err)
		}
	}
	batch, err := e.conn.PrepareBatch(ctx, "INSERT INTO `"+e.database+"`.schema_migrations (version, name, applied_at)")
	if err != nil {
		return fmt.Errorf("record version: %w", err)
	}
	defer batch.Close()
	if err := batch.Append(uint32(m.Version), m.Name, time.Now()); err != nil {
		return fmt.Errorf("record version: %w", err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("record version: %w", err)
	}
	return nil
}

// addColumn matches an ALTER TABLE ... ADD COLUMN statement.
var addColumn = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s.*\sADD\s+COLUMN\s`)

// alreadyAdded reports whether err says that stmt, an ADD COLUMN, found its column
// there (code 44): 18.16 has no ADD COLUMN IF NOT EXISTS, and a concurrent migrator
// may have added it first. Every other statement of a migration is idempotent.
func alreadyAdded(stmt string, err error) bool {
	var ex *clickhouse.Exception
	return addColumn.MatchString(stmt) && errors.As(err, &ex) && ex.Code == 44
}
