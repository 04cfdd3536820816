package kafka

import (
	"fmt"
	"log/slog"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// GroupReader configures NewGroupReader.
type GroupReader struct {
	Brokers        []string
	Topic          string
	GroupID        string
	ClientID       string        // names the connections in broker logs
	QueueCapacity  int           // messages fetched ahead, so fetching goes on while a batch is processed
	MaxWait        time.Duration // how long the broker holds a fetch with nothing new
	SessionTimeout time.Duration
}

// NewGroupReader returns a consumer-group reader of topic that starts from the first
// offset of a partition the group has never committed and commits only when told to
// (CommitMessages): what the archiver and the forwarder build on, committing a batch's
// offsets once its work is durable. Reader errors are logged as warnings to log.
func NewGroupReader(cfg GroupReader, log *slog.Logger) *kafkago.Reader {
	return kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:        cfg.Brokers,
		GroupID:        cfg.GroupID,
		Topic:          cfg.Topic,
		StartOffset:    kafkago.FirstOffset,
		CommitInterval: 0, // commit synchronously, when told to
		QueueCapacity:  cfg.QueueCapacity,
		MaxWait:        cfg.MaxWait,
		SessionTimeout: cfg.SessionTimeout,
		Dialer:         &kafkago.Dialer{ClientID: cfg.ClientID, Timeout: 10 * time.Second, DualStack: true},
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			log.Warn("kafka reader", "err", fmt.Sprintf(msg, args...))
		}),
	})
}
