package config

import (
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/lambda-platform/lambda/internal/chstream"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/store"
)

// Defaults that work with the servers `make services-up` starts.
const (
	DefaultEmbeddedKafka = "127.0.0.1:9092"
	DefaultDataDir       = ".run"
	DefaultORTLib        = ".cache/onnxruntime/libonnxruntime.so.1.30.0"
)

// Postgres locates the speed view, batch-run and model registry database.
type Postgres struct {
	URL string
}

// Register binds the section to flags.
func (c *Postgres) Register(f *Flags) {
	f.String(&c.URL, "postgres-url", store.EnvPostgresURL, store.DefaultPostgresURL, "PostgreSQL connection URL")
}

// LogValue masks the password.
func (c Postgres) LogValue() slog.Value { return slog.StringValue(MaskURL(c.URL)) }

// ClickHouse locates the master dataset and the batch view.
type ClickHouse struct {
	Addr     string
	Database string
	Username string
	Password string
}

// Register binds the section to flags.
func (c *ClickHouse) Register(f *Flags) {
	f.String(&c.Addr, "clickhouse-addr", store.EnvClickHouseAddr, store.DefaultClickHouseAddr, "ClickHouse native protocol address host:port")
	f.String(&c.Database, "clickhouse-db", store.EnvClickHouseDatabase, store.DefaultClickHouseDatabase, "ClickHouse database")
	f.String(&c.Username, "clickhouse-user", "LAMBDA_CLICKHOUSE_USER", "default", "ClickHouse user")
	f.String(&c.Password, "clickhouse-password", "LAMBDA_CLICKHOUSE_PASSWORD", "", "ClickHouse password")
}

// Auth is the login for store.OpenClickHouse.
func (c ClickHouse) Auth() store.ClickHouseAuth {
	return store.ClickHouseAuth{Username: c.Username, Password: c.Password}
}

// Stream locates the server for chstream's bulk reads of Database.
func (c ClickHouse) Stream() chstream.Options {
	return chstream.Options{Addr: c.Addr, Database: c.Database, User: c.Username, Password: c.Password}
}

// LogValue masks the password.
func (c ClickHouse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr), slog.String("database", c.Database),
		slog.String("user", c.Username), slog.String("password", Mask(c.Password)))
}

// Kafka locates the event log. No brokers means: run the embedded broker.
type Kafka struct {
	Brokers      []string
	Topic        string
	DLQTopic     string
	Partitions   int
	EmbeddedAddr string
	// MaxClockSkew is how far an event's ts may be ahead of its arrival (the
	// message timestamp, or when the API received it) before it is invalid.
	MaxClockSkew time.Duration
}

// Register binds the section to flags.
func (c *Kafka) Register(f *Flags) {
	f.List(&c.Brokers, "kafka-brokers", "LAMBDA_KAFKA_BROKERS", "", "Kafka bootstrap brokers, comma-separated; empty = the embedded broker")
	f.String(&c.Topic, "kafka-topic", "LAMBDA_KAFKA_TOPIC", "events", "topic of the event log (key = entity_id)")
	f.String(&c.DLQTopic, "kafka-dlq-topic", "LAMBDA_KAFKA_DLQ_TOPIC", "events.dlq", "dead-letter topic for invalid events, each with its reason")
	f.Int(&c.Partitions, "kafka-partitions", "LAMBDA_KAFKA_PARTITIONS", 6, "partitions of topics this platform creates")
	f.String(&c.EmbeddedAddr, "kafka-embedded-addr", "LAMBDA_KAFKA_EMBEDDED_ADDR", DefaultEmbeddedKafka, "listen address of the embedded broker")
	f.Duration(&c.MaxClockSkew, "max-clock-skew", "LAMBDA_MAX_CLOCK_SKEW", event.DefaultMaxClockSkew,
		"how far an event's ts may be ahead of its arrival (Kafka timestamp, or receipt by the API) before it is invalid")
}

// Embedded reports whether the platform runs its own in-process broker.
func (c Kafka) Embedded() bool { return len(c.Brokers) == 0 }

// BootstrapBrokers is where clients connect: the given brokers or the embedded one.
func (c Kafka) BootstrapBrokers() []string {
	if c.Embedded() {
		return []string{c.EmbeddedAddr}
	}
	return c.Brokers
}

// Runtime locates local state and the ONNX Runtime library.
type Runtime struct {
	DataDir string
	ORTLib  string
}

// Register binds the section to flags.
func (c *Runtime) Register(f *Flags) {
	f.String(&c.DataDir, "data-dir", "LAMBDA_DATA_DIR", DefaultDataDir, "local state (embedded broker data)")
	f.String(&c.ORTLib, "ort-lib", "LAMBDA_ORT_LIB", DefaultORTLib, "path of the ONNX Runtime shared library")
}

// KafkaDir is the embedded broker's data directory.
func (c Runtime) KafkaDir() string { return filepath.Join(c.DataDir, "kafka") }

// Log configures the process logger.
type Log struct {
	Level  string
	Format string
}

// Register binds the section to flags.
func (c *Log) Register(f *Flags) {
	f.String(&c.Level, "log-level", "LAMBDA_LOG_LEVEL", "info", "debug, info, warn or error")
	f.String(&c.Format, "log-format", "LAMBDA_LOG_FORMAT", "text", "text or json")
}

// dsnPassword matches the password of a key=value connection string.
var dsnPassword = regexp.MustCompile(`(password\s*=\s*)('[^']*'|\S+)`)

// MaskURL hides the password of a URL such as postgres://user:secret@host/db (also
// one given as ?password= or ?sslpassword=) or of a key=value connection string such
// as "host=db password=secret". A URL that does not parse is not shown at all.
func MaskURL(raw string) string {
	scheme, _, isURL := strings.Cut(raw, "://")
	if !isURL {
		return dsnPassword.ReplaceAllString(raw, "${1}***")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return scheme + "://(a URL that does not parse, not shown)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "***")
		}
	}
	q, masked := u.Query(), false
	for key := range q {
		if strings.HasSuffix(strings.ToLower(key), "password") {
			q.Set(key, "***")
			masked = true
		}
	}
	if masked {
		u.RawQuery = q.Encode()
	}
	return strings.ReplaceAll(u.String(), "%2A%2A%2A", "***")
}

// Mask hides a secret (a password, a token) in logged configuration: "***", or "" when unset.
func Mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "***"
}
