package speedlayer

import (
	"time"

	"github.com/lambda-platform/lambda/internal/event"
)

// Defaults for the zero fields of Config.
const (
	DefaultTopic           = "events"
	DefaultGroupID         = "lambda-speed"
	DefaultMaxBatch        = 20_000
	DefaultMaxWait         = 50 * time.Millisecond
	DefaultRunPoll         = time.Second
	DefaultSessionTimeout  = 10 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultWriteChunk      = 10_000
	DefaultCatchUp         = 10_000
	DefaultDedupHorizon    = 100_000
	DefaultPruneDelay      = time.Minute
)

// Fixed tuning.
const (
	// maxCatchUps is how many times a finished rebuild is handed back to apply the
	// records taken meanwhile off the consumer's loop (see Config.CatchUp).
	maxCatchUps = 3
	// Failed steps are retried after minBackoff, doubling up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// dedupMaxLateness bounds, for the duplicate check across the cutoff, how much
	// older than the run's as_of an event's time may be: it lets ClickHouse read only
	// the newest monthly partitions of the events table.
	dedupMaxLateness = 35 * 24 * time.Hour
	// baseChunk is the most entity ids one base-state lookup asks for.
	baseChunk = 2000
	// replayChunk is how many records a rebuild folds at a time.
	replayChunk = 4096
	// fetchQueue is how many fetched messages a partition reader buffers ahead.
	fetchQueue = 4096
	// fetchMaxWait bounds how long the broker holds a fetch with nothing new. kafka-go
	// also gives the broker that long to start answering any fetch before it drops
	// the connection and fetches again: at 250 ms, a broker slowed by the rebuilds'
	// fetches after a run (the 10-minute soak) got every partition's live fetch
	// dropped for seconds at a time. A reader's Close waits for its fetch, so this
	// also bounds how long a stopping reader takes.
	fetchMaxWait = time.Second
	// fetchMaxBytes bounds one fetch response: 1 MiB, Kafka's own consumers' default
	// (max.partition.fetch.bytes), so that a rebuild replaying minutes of events asks
	// the broker for short answers, between which the live fetches are answered (it
	// was 16 MiB: the embedded broker, which answers one request at a time, then
	// kept live fetches waiting past fetchMaxWait).
	fetchMaxBytes = 1 << 20
	// clientID names the speed layer's Kafka connections in broker logs.
	clientID = "lambda-speed"
)

// Config configures a Consumer; zero fields take the defaults above.
type Config struct {
	// Brokers are the Kafka bootstrap brokers.
	Brokers []string
	// Topic is the event log.
	Topic string
	// GroupID is the consumer group; scale out by running more members (up to the
	// topic's partition count).
	GroupID string
	// MaxBatch is the most messages one micro-batch holds.
	MaxBatch int
	// MaxWait is the longest the first message of a micro-batch waits for more.
	MaxWait time.Duration
	// RunPoll is how often the published batch run is checked for a new one.
	RunPoll time.Duration
	// SessionTimeout is how long the group waits for a member that stopped
	// heartbeating before giving its partitions to the others (brokers accept 6 s
	// to 30 min by default).
	SessionTimeout time.Duration
	// ShutdownTimeout bounds writing and committing the last micro-batch once Run's
	// context ends.
	ShutdownTimeout time.Duration
	// WriteChunk is the most rows one upsert writes when a whole partition's delta
	// is written (after a rebuild, or to rescore with a new model).
	WriteChunk int
	// CatchUp is the most records taken during a rebuild that the consumer's loop
	// applies to the rebuilt delta itself, holding up the live micro-batches while
	// it does. With more, the rebuild's goroutine applies them and hands the delta
	// back, up to 3 times, the records taken meanwhile waiting for the next round:
	// after a run that took minutes, a partition can have taken hundreds of
	// thousands.
	CatchUp int
	// DedupHorizon is how many offsets before the cutoff, per partition, the
	// duplicate check across the cutoff covers: an event sent again (same event_id)
	// after the cutoff is folded once if its first copy is at most this many offsets
	// before the cutoff. It needs Deps.Archive; negative disables it.
	DedupHorizon int64
	// MaxClockSkew is how far an event's ts may be ahead of its message's timestamp
	// (event.CheckArrival); zero means event.DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// PruneDelay is how long after a rebase the rows the new run's batch view
	// dominates are deleted: until then serving replicas that still serve the old
	// run's batch view keep finding them.
	PruneDelay time.Duration
}

func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.RunPoll <= 0 {
		c.RunPoll = DefaultRunPoll
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.WriteChunk <= 0 {
		c.WriteChunk = DefaultWriteChunk
	}
	if c.CatchUp <= 0 {
		c.CatchUp = DefaultCatchUp
	}
	if c.PruneDelay <= 0 {
		c.PruneDelay = DefaultPruneDelay
	}
	if c.MaxClockSkew <= 0 {
		c.MaxClockSkew = event.DefaultMaxClockSkew
	}
	if c.DedupHorizon == 0 {
		c.DedupHorizon = DefaultDedupHorizon
	}
	return c
}
