// Command lambda is the platform's one binary: every layer, the all-in-one `up`,
// migrations, the demo producer and model tools are subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/lambda-platform/lambda/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: run parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{
	"up":      {"run every component in one process (embedded Kafka unless LAMBDA_KAFKA_BROKERS is set)", runUp},
	"serve":   {"run the HTTP API alone (stateless; many replicas behind a load balancer)", runServe},
	"edge":    {"run an edge node: mirror an upstream's active models, score them locally, keep serving offline", runEdge},
	"migrate": {"apply the PostgreSQL and ClickHouse migrations", runMigrate},
	"archive": {"run the archiver alone: every event into the ClickHouse master dataset", runArchive},
	"produce": {"write demo events to the event topic", runProduce},
	"speed":   {"run the streaming side: the speed layer (fresh predictions in speed_view after the batch cutoff), the forwarder and the Kappa replays' jobs", runSpeed},
	"model":   {"model registry: train, import, quantize, list, activate, rollback", runModel},
	"batch":   {"batch layer: run, runs, schedule, import and export Parquet", runBatch},
	"kappa":   {"Kappa replays: reprocess the whole log into a new view, switch readers to it, release", runKappa},
	"report":  {"the trade-offs from this deployment's records: report rollout compares a batch run with a Kappa replay", runReport},
	"version": {"print the version", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintln(os.Stderr, "lambda:", err)
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(out)
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		usage(os.Stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return cmd.run(ctx, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "lambda — a Lambda-architecture prediction platform\n\nUsage: lambda <command> [flags]   (lambda <command> -h for its flags)\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-9s %s\n", name, commands[name].summary)
	}
}

// parse reads a command's flags and environment and builds its logger.
func parse(f *config.Flags, args []string, logCfg *config.Log) (*slog.Logger, error) {
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	return config.NewLogger(os.Stderr, *logCfg)
}

func runVersion(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Println("lambda", version)
	return nil
}
