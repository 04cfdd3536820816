package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/speedlayer/kappa"
)

// kappaCommand is one `lambda kappa` subcommand.
type kappaCommand struct {
	name, summary string
	run           func(ctx context.Context, args []string, out io.Writer) error
}

var kappaCommands = []kappaCommand{
	{"replay", "reprocess the whole log from offset 0 into a new view (Kappa); --switch makes readers use it once caught up", runKappaReplay},
	{"list", "the replays, newest first, with their progress", runKappaList},
	{"switch", "make a replay that has caught up the one readers use", runKappaSwitch},
	{"release", "return readers to the Lambda views (the replay's job keeps its view current)", runKappaRelease},
	{"stop", "stop a replay that readers do not use; its view is dropped", runKappaStop},
}

func runKappa(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		kappaUsage(os.Stdout)
		return nil
	}
	i := slices.IndexFunc(kappaCommands, func(c kappaCommand) bool { return c.name == args[0] })
	if i < 0 {
		kappaUsage(os.Stderr)
		return fmt.Errorf("unknown kappa command %q", args[0])
	}
	return kappaCommands[i].run(ctx, args[1:], os.Stdout)
}

func kappaUsage(w io.Writer) {
	fmt.Fprintln(w, "lambda kappa: Kappa replays — the whole log reprocessed by the streaming code into a new view, run by the\n"+
		"speed processes (`lambda speed`, `lambda up`)\n\nUsage: lambda kappa <command> [flags]\n\nCommands:")
	for _, c := range kappaCommands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}

type kappaConfig struct {
	Postgres config.Postgres
	Log      config.Log
}

func kappaFlags(cmd, usage string, cfg *kappaConfig) *config.Flags {
	f := config.NewFlags("kappa "+cmd, "lambda kappa "+cmd+": "+usage)
	f.Add(&cfg.Postgres, &cfg.Log)
	return f
}

func runKappaReplay(ctx context.Context, args []string, out io.Writer) error {
	var (
		cfg                 kappaConfig
		arch                architectureSettings
		model, spec, by     string
		switchReady, detach bool
	)
	arch.Register(config.NewFlags("architecture", "")) // its defaults, from the environment
	kappaMode, _ := arch.kappaMode()
	f := kappaFlags("replay", "start a replay: a job of the speed processes folds the log from offset 0 into a new view, scoring with MODEL (NAME or NAME@VERSION; default: the active version of LAMBDA_MODEL)", &cfg)
	f.String(&model, "model", "LAMBDA_MODEL", "demo", "model NAME (its active version) or NAME@VERSION")
	f.StringVar(&spec, "spec", "", "feature spec JSON file (default: the built-in spec)")
	f.BoolVar(&switchReady, "switch", kappaMode, "switch readers to the replay once it has caught up with the log (default true when LAMBDA_ARCHITECTURE=kappa)")
	f.BoolVar(&detach, "detach", false, "return once the replay is recorded instead of following its progress")
	f.StringVar(&by, "requested-by", "cli", "who asked, recorded with the replay")
	if _, err := parse(f, args, &cfg.Log); err != nil {
		return err
	}
	name, version, err := replays.ParseModelRef(model)
	if err != nil {
		return err
	}
	req := replays.Request{ModelName: name, ModelVersion: version, Switch: switchReady, RequestedBy: by}
	if spec != "" {
		data, err := os.ReadFile(spec)
		if err != nil {
			return err
		}
		if _, err := features.ParseSpec(data); err != nil {
			return fmt.Errorf("feature spec %s: %w", spec, err)
		}
		req.Spec = string(data)
	}
	pool, err := openPostgres(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	r, err := replays.Create(ctx, pool, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "replay %d started: view %s, model %s\n", r.ID, r.Table(), modelRef(r))
	if detach {
		return nil
	}
	return follow(ctx, pool, r.ID, out)
}

// follow prints replay id's progress every second until it has caught up — and is
// live, if it switches when ready — or ended.
func follow(ctx context.Context, db replays.DB, id int64, out io.Writer) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r, err := replays.Get(ctx, db, id)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, replayLine(r))
		switch {
		case r.Status == replays.Live, r.Status == replays.Ready && !r.SwitchWhenReady:
			return nil
		case r.Status == replays.Ready: // switched to in a moment
		case r.Status == replays.Failed, r.Status == replays.Stopped, r.Status == replays.Retired:
			return fmt.Errorf("replay %d %s: %s", id, r.Status, r.Error)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(out, "stopped following; replay %d goes on (lambda kappa list)\n", id)
			return nil
		case <-tick.C:
		}
	}
}

// replayLine is a replay's status and progress on one line.
func replayLine(r replays.Replay) string {
	line := fmt.Sprintf("replay %d %-9s %d/%d offsets", r.ID, r.Status, r.OffsetsDone, r.OffsetsTotal)
	if r.OffsetsTotal > 0 {
		line += fmt.Sprintf(" (%.1f%%)", 100*float64(r.OffsetsDone)/float64(r.OffsetsTotal))
	}
	line += fmt.Sprintf(", %.0f events/s", r.EventsPerSecond)
	if r.Status == replays.Replaying && r.EventsPerSecond > 0 {
		eta := time.Duration(float64(r.OffsetsTotal-r.OffsetsDone) / r.EventsPerSecond * float64(time.Second))
		line += ", ETA " + eta.Round(time.Second).String()
	}
	return line
}

func runKappaList(ctx context.Context, args []string, out io.Writer) error {
	var cfg kappaConfig
	f := kappaFlags("list", "the newest replays, newest first", &cfg)
	limit := f.FlagSet.Int("limit", 20, "how many")
	if _, err := parse(f, args, &cfg.Log); err != nil {
		return err
	}
	pool, err := openPostgres(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	list, err := replays.List(ctx, pool, *limit)
	if err != nil {
		return err
	}
	for _, r := range list {
		fmt.Fprintf(out, "%s, model %s, created %s by %q\n", replayLine(r), modelRef(r), r.CreatedAt.Format(time.RFC3339), r.RequestedBy)
	}
	return nil
}

func runKappaSwitch(ctx context.Context, args []string, out io.Writer) error {
	return kappaByID(ctx, "switch", "make replay ID, which has caught up with the log, the one readers use", args, out,
		func(ctx context.Context, db replays.DB, id int64) (string, error) {
			return fmt.Sprintf("readers switched to replay %d", id), replays.Switch(ctx, db, id)
		})
}

func runKappaStop(ctx context.Context, args []string, out io.Writer) error {
	return kappaByID(ctx, "stop", "stop replay ID (not the live one); its view is dropped after a grace period", args, out,
		func(ctx context.Context, db replays.DB, id int64) (string, error) {
			return fmt.Sprintf("replay %d stopped", id), replays.Stop(ctx, db, id)
		})
}

// kappaByID runs a subcommand that takes a replay ID argument.
func kappaByID(ctx context.Context, cmd, usage string, args []string, out io.Writer,
	do func(ctx context.Context, db replays.DB, id int64) (string, error)) error {
	var cfg kappaConfig
	f := kappaFlags(cmd+" ID", usage, &cfg)
	if _, err := parse(f, args, &cfg.Log); err != nil {
		return err
	}
	if f.FlagSet.NArg() != 1 {
		return fmt.Errorf("kappa %s: want one replay ID", cmd)
	}
	id, err := strconv.ParseInt(f.FlagSet.Arg(0), 10, 64)
	if err != nil || id < 1 {
		return fmt.Errorf("kappa %s: replay ID %q is not a positive integer", cmd, f.FlagSet.Arg(0))
	}
	pool, err := openPostgres(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	msg, err := do(ctx, pool, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, msg)
	return nil
}

func runKappaRelease(ctx context.Context, args []string, out io.Writer) error {
	var cfg kappaConfig
	f := kappaFlags("release", "readers go back to the Lambda views (batch + speed); the live replay becomes ready", &cfg)
	if _, err := parse(f, args, &cfg.Log); err != nil {
		return err
	}
	pool, err := openPostgres(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	id, err := replays.Release(ctx, pool)
	if err != nil {
		return err
	}
	if id == 0 {
		fmt.Fprintln(out, "no replay was live; readers use the Lambda views")
		return nil
	}
	fmt.Fprintf(out, "replay %d released; readers use the Lambda views\n", id)
	return nil
}

func modelRef(r replays.Replay) string {
	if r.ModelVersion == 0 {
		return r.ModelName + " (active version)"
	}
	return fmt.Sprintf("%s@%d", r.ModelName, r.ModelVersion)
}

// The architectures a platform runs as.
const (
	archLambda = "lambda"
	archKappa  = "kappa"
)

// architectureSettings is the section of the commands whose behaviour depends on
// whether the platform runs as Lambda (batch and speed layers, Kappa replays beside
// them for comparison) or Kappa (no batch layer: a replay's view answers).
type architectureSettings struct {
	Name      string
	DropGrace time.Duration
}

// Register binds the section to flags.
func (a *architectureSettings) Register(f *config.Flags) {
	f.String(&a.Name, "architecture", "LAMBDA_ARCHITECTURE", archLambda,
		"lambda: batch + speed layers, Kappa replays beside them; kappa: no batch layer, a Kappa replay's view answers and every replay switches readers once caught up")
	f.Duration(&a.DropGrace, "kappa-drop-grace", "LAMBDA_KAPPA_DROP_GRACE", kappa.DefaultDropGrace,
		"how long after a Kappa replay ended (replaced, released or stopped) its view is dropped")
}

// kappaMode reports whether the platform runs as Kappa, or says what is wrong.
func (a architectureSettings) kappaMode() (bool, error) {
	switch a.Name {
	case archLambda:
		return false, nil
	case archKappa:
		return true, nil
	}
	return false, fmt.Errorf("LAMBDA_ARCHITECTURE %q: want %s or %s", a.Name, archLambda, archKappa)
}
