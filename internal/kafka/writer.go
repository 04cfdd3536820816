package kafka

import (
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Writer defaults. A synchronous WriteMessages returns once every message is
// acknowledged by all in-sync replicas. Messages go out in batches of up to
// WriterBatchSize per partition; a batch that is not full waits
// WriterBatchTimeout for messages from concurrent calls. kafka-go has no flush
// at the end of a call, so every call waits that long for its last batch:
// the timeout is kept short (against the embedded broker, with 5 ms calls of
// 1000 messages ran 2.3× and single-message calls from 64 goroutines 7×
// slower than with 200 µs).
const (
	WriterBatchSize    = 1000
	WriterBatchTimeout = 200 * time.Microsecond
	WriterCompression  = kafkago.Lz4
)

// Writer is a kafka-go Writer on a transport of its own. Its fields may be
// changed before the first write (for example Async or BatchTimeout).
type Writer struct {
	*kafkago.Writer
	transport *kafkago.Transport
}

// NewWriter returns the producer for topic that the platform uses: messages
// are partitioned by key with murmur2 (see PartitionFor and the package
// doc), acknowledged by all in-sync replicas (acks=all), LZ4-compressed,
// written synchronously and in order per partition. Failed batches are
// retried (kafka-go's default 10 attempts), so a message can be written
// twice; consumers are idempotent. The topic must exist: it is never
// created on produce.
func NewWriter(brokers []string, topic string) (*Writer, error) {
	if len(brokers) == 0 {
		return nil, ErrNoBrokers
	}
	t := newTransport()
	return &Writer{
		Writer: &kafkago.Writer{
			Addr:         kafkago.TCP(brokers...),
			Topic:        topic,
			Balancer:     &kafkago.Murmur2Balancer{},
			RequiredAcks: kafkago.RequireAll,
			BatchSize:    WriterBatchSize,
			BatchTimeout: WriterBatchTimeout,
			Compression:  WriterCompression,
			Transport:    t,
		},
		transport: t,
	}, nil
}

// Close flushes pending messages, then closes the writer's connections.
func (w *Writer) Close() error {
	err := w.Writer.Close()
	w.transport.CloseIdleConnections()
	return err
}
