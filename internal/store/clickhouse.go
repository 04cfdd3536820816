package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ClickHouse connection pool settings. ReadTimeout is generous because a batch run
// streams the whole master dataset through one query.
const (
	clickHouseDialTimeout  = 5 * time.Second
	clickHouseReadTimeout  = 10 * time.Minute
	clickHouseMaxOpenConns = 10
	clickHouseMaxIdleConns = 5
	clickHouseConnLifetime = time.Hour
)

// ClickHouseAuth is the user a connection logs in as; the zero value is the
// password-less "default" user of a local server.
type ClickHouseAuth struct {
	Username, Password string
}

// OpenClickHouse opens a native-protocol connection pool to the server at addr
// (host:port) with database as the default for unqualified table names, and pings it.
// The database must exist; pass "default" to reach a server whose database the
// migrations have yet to create. Only the native protocol works with ClickHouse 18.16.
func OpenClickHouse(ctx context.Context, addr, database string, auth ClickHouseAuth) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:            []string{addr},
		Auth:            clickhouse.Auth{Database: database, Username: auth.Username, Password: auth.Password},
		DialTimeout:     clickHouseDialTimeout,
		ReadTimeout:     clickHouseReadTimeout,
		MaxOpenConns:    clickHouseMaxOpenConns,
		MaxIdleConns:    clickHouseMaxIdleConns,
		ConnMaxLifetime: clickHouseConnLifetime,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse at %s: %w", addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("ping clickhouse at %s (database %q): %w", addr, database, err)
	}
	return conn, nil
}
