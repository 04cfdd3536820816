package main

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/kafka/forward"
)

// newForwarder builds the forwarder of kc's events topic, for `lambda speed` and
// `lambda up`: Run it until its context ends, then call closeFn to flush and close
// its producers.
func newForwarder(brokers []string, kc config.Kafka, reg prometheus.Registerer, log *slog.Logger) (f *forward.Forwarder, closeFn func() error, err error) {
	home, err := kafka.NewWriter(brokers, kc.Topic)
	if err != nil {
		return nil, nil, err
	}
	dlq, err := kafka.NewWriter(brokers, kc.DLQTopic)
	if err != nil {
		_ = home.Close()
		return nil, nil, err
	}
	closeFn = func() error { return errors.Join(home.Close(), dlq.Close()) }
	f, err = forward.New(forward.Config{Brokers: brokers, Topic: kc.Topic, MaxClockSkew: kc.MaxClockSkew}, home, dlq, reg, log)
	if err != nil {
		_ = closeFn()
		return nil, nil, err
	}
	return f, closeFn, nil
}
