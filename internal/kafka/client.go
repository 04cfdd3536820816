package kafka

import (
	"errors"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// ErrNoBrokers is returned when no broker address is given.
var ErrNoBrokers = errors.New("no kafka broker addresses")

// clientID names the platform's connections in broker logs and quotas.
const clientID = "lambda"

// newTransport returns a transport of its own, so its metadata cache is not
// shared: kafka-go's default transport caches metadata for up to 6 s, which
// hides topics created meanwhile by another client.
func newTransport() *kafkago.Transport {
	return &kafkago.Transport{
		ClientID:    clientID,
		DialTimeout: 5 * time.Second,
	}
}

// newClient returns an admin client on its own transport; call the returned
// function to close the transport's connections.
func newClient(brokers []string) (*kafkago.Client, func()) {
	t := newTransport()
	return &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: t}, t.CloseIdleConnections
}

// brokerList renders brokers for error messages.
func brokerList(brokers []string) string { return strings.Join(brokers, ",") }
