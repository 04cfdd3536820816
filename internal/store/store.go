// Package store opens the platform's database clients: a pgx pool for PostgreSQL (speed
// view, batch run and model registries) and a native-protocol clickhouse-go connection
// for ClickHouse (master dataset, batch view). Listen follows a PostgreSQL notification
// channel. It also names the environment variables and defaults that locate the
// servers, for the config package and the tests.
package store

// Environment variables that locate the servers, and their defaults.
const (
	// EnvPostgresURL names the variable holding the PostgreSQL connection URL.
	EnvPostgresURL = "LAMBDA_POSTGRES_URL"
	// DefaultPostgresURL is the local development server started by `make services-up`.
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/lambda?sslmode=disable"

	// EnvClickHouseAddr names the variable holding the ClickHouse native-protocol address.
	EnvClickHouseAddr = "LAMBDA_CLICKHOUSE_ADDR"
	// DefaultClickHouseAddr is the local development server started by `make services-up`.
	DefaultClickHouseAddr = "127.0.0.1:9000"

	// EnvClickHouseDatabase names the variable holding the ClickHouse database.
	EnvClickHouseDatabase = "LAMBDA_CLICKHOUSE_DATABASE"
	// DefaultClickHouseDatabase is the database the platform's tables live in.
	DefaultClickHouseDatabase = "lambda"
)
