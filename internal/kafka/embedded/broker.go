// Package embedded runs an in-process Kafka-protocol broker (franz-go's kfake)
// for `lambda up` and the tests when no LAMBDA_KAFKA_BROKERS is given. Clients
// (kafka-go, kcat, any Kafka client) talk the real wire protocol to it.
//
// It is one broker. Topics are never created on produce or metadata requests:
// create them explicitly (kafka.EnsureTopics). With a data directory, topics,
// messages and committed group offsets survive a restart.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultAddr is where the broker listens when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:9092"

// clusterID is what the broker reports in metadata. A data directory keeps
// the cluster ID it was first created with.
const clusterID = "lambda-embedded"

// Options configures Start.
type Options struct {
	// Dir is the data directory. Topics, messages and committed group
	// offsets written there survive a restart on the same Dir. Writes reach
	// the OS as they happen but are not fsynced (like Kafka's default), so
	// a killed process loses nothing and a machine crash may lose the last
	// writes. Empty keeps everything in memory. A Dir is locked while a
	// broker uses it.
	Dir string
	// Addr is the host:port to listen on, and also the address advertised to
	// clients in metadata, so it must be one they can reach. Empty means
	// DefaultAddr; port 0 picks a free port (see Broker.Addrs).
	Addr string
}

// Broker is a running embedded broker.
type Broker struct {
	cluster   *kfake.Cluster
	addrs     []string // kfake's ListenAddrs blocks forever once closed
	lock      *dirLock
	log       *slog.Logger
	closeOnce sync.Once
}

// Start listens on opts.Addr and, if opts.Dir holds state from an earlier run,
// loads it first. ctx bounds only the start (loading a large data directory);
// the broker runs until Close.
func Start(ctx context.Context, opts Options, log *slog.Logger) (*Broker, error) {
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	log = log.With("component", "kafka-embedded")

	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}

	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID(clusterID),
		kfake.WithLogger(slogLogger{log}),
		// kfake asks to listen on 127.0.0.1:<port>; listen on addr instead.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, addr)
		}),
	}
	if opts.Dir != "" {
		kopts = append(kopts, kfake.DataDir(opts.Dir))
	}

	began := time.Now()
	cluster, err := newCluster(ctx, kopts, lock)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka on %s: %w", addr, err)
	}
	b := &Broker{cluster: cluster, addrs: cluster.ListenAddrs(), lock: lock, log: log}
	log.Info("embedded kafka started", "addrs", b.addrs, "dir", opts.Dir, "took", time.Since(began))
	return b, nil
}

// newCluster creates the cluster, giving up when ctx ends. A cluster that
// finishes loading after that is closed and its lock released.
func newCluster(ctx context.Context, kopts []kfake.Opt, lock *dirLock) (*kfake.Cluster, error) {
	type result struct {
		cluster *kfake.Cluster
		err     error
	}
	done := make(chan result, 1)
	go func() {
		c, err := kfake.NewCluster(kopts...)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			lock.release()
		}
		return r.cluster, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil {
				r.cluster.Close()
			}
			lock.release()
		}()
		return nil, ctx.Err()
	}
}

// checkAddr rejects addresses clients could not be sent to: the broker
// advertises the address it listens on.
func checkAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("embedded kafka address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("embedded kafka address %q: %w", addr, errUnspecifiedHost)
	}
	return nil
}

// ErrDirLocked is returned by Start when another broker uses the data directory.
var ErrDirLocked = errors.New("data directory is in use by another embedded broker")

var errUnspecifiedHost = errors.New("host must be one clients can dial (it is advertised), not empty or 0.0.0.0")

// Addrs returns the broker's host:port, to use as the bootstrap brokers.
func (b *Broker) Addrs() []string { return slices.Clone(b.addrs) }

// Close stops the broker. With a data directory it first writes the state
// that is not yet on disk, so the next Start on the same Dir resumes from it.
// Close is safe to call more than once.
func (b *Broker) Close() {
	b.closeOnce.Do(func() {
		b.cluster.Close()
		b.lock.release()
		b.log.Info("embedded kafka stopped")
	})
}

// errDropped closes the connection of a request an Intercept function dropped.
var errDropped = errors.New("request dropped by an intercept function")

// Intercept calls fn with every request of kind key (a kmsg key, such as
// kmsg.OffsetCommit.Int16()) before the broker handles it. When fn returns true the
// request is dropped and the client's connection closed, as if the broker had
// died before answering: fault tests use it to stop a client between two steps.
func (b *Broker) Intercept(key int16, fn func(kmsg.Request) (drop bool)) {
	b.cluster.ControlKey(key, func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.cluster.KeepControl()
		if fn(req) {
			return nil, errDropped, true
		}
		return nil, nil, false
	})
}
