package store

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresConnectTimeout bounds each new connection unless the URL sets connect_timeout.
const postgresConnectTimeout = 5 * time.Second

// OpenPostgres opens a connection pool for url (a postgres:// URL or a key=value DSN;
// pool_max_conns and other pgxpool parameters are honoured) and pings the server. The
// error names the server's address, never the password.
func OpenPostgres(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = postgresConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres at %s: %w", postgresAddr(cfg), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping postgres at %s: %w", postgresAddr(cfg), err)
	}
	return pool, nil
}

// postgresAddr describes where cfg points, as host:port/database, for logs and errors.
func postgresAddr(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))) + "/" + c.Database
}
