package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/demomodel"
	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
)

// modelCommand is one `lambda model` subcommand; out receives its report.
type modelCommand struct {
	name, summary string
	run           func(ctx context.Context, args []string, out io.Writer) error
}

var modelCommands = []modelCommand{
	{"train", "train a model on demo events and register it with its int8 variant", runModelTrain},
	{"import", "register an ONNX file as a new version", runModelImport},
	{"quantize", "add the int8 variant to a version", runModelQuantize},
	{"list", "list models and their versions", runModelList},
	{"activate", "make a version the one the scorers use", runModelActivate},
	{"rollback", "reactivate the version active before the current one", runModelRollback},
}

func runModel(ctx context.Context, args []string) error { return modelMain(ctx, args, os.Stdout) }

func modelMain(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		modelUsage(out)
		return nil
	}
	i := slices.IndexFunc(modelCommands, func(c modelCommand) bool { return c.name == args[0] })
	if i < 0 {
		modelUsage(os.Stderr)
		return fmt.Errorf("unknown model command %q", args[0])
	}
	return modelCommands[i].run(ctx, args[1:], out)
}

func modelUsage(w io.Writer) {
	fmt.Fprintln(w, "lambda model: the model registry in PostgreSQL\n\nUsage: lambda model <command> [flags]   (lambda model <command> -h for its flags)\n\nCommands:")
	for _, c := range modelCommands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}

// modelConfig is what every model subcommand reads: the registry database, the ONNX
// Runtime for those that score, and the log.
type modelConfig struct {
	Postgres config.Postgres
	Runtime  config.Runtime
	Log      config.Log
	Name     string
}

// newModelFlags registers the shared settings; name is the default of --name.
func newModelFlags(cmd, usage, name string, cfg *modelConfig) *config.Flags {
	f := config.NewFlags("model "+cmd, "lambda model "+cmd+": "+usage)
	f.Add(&cfg.Postgres, &cfg.Runtime, &cfg.Log)
	f.StringVar(&cfg.Name, "name", name, "model name")
	return f
}

// parseModel parses a subcommand's flags; every subcommand but list needs --name.
func parseModel(f *config.Flags, args []string, cfg *modelConfig, needName bool) (*slog.Logger, error) {
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return nil, err
	}
	if needName && cfg.Name == "" {
		return nil, errors.New("--name is required")
	}
	return log, nil
}

// openRegistry logs the resolved config (the shared settings, then attrs), loads the ONNX
// Runtime when the command scores, and opens the registry; release closes it.
func openRegistry(ctx context.Context, cfg *modelConfig, log *slog.Logger, scores bool, attrs ...any) (reg *registry.Registry, release func(), err error) {
	log.Info("config", append([]any{"postgres", cfg.Postgres, "ort_lib", cfg.Runtime.ORTLib, "model", cfg.Name}, attrs...)...)
	if scores {
		if err := inference.InitRuntime(cfg.Runtime.ORTLib); err != nil {
			return nil, nil, err
		}
	}
	pool, err := openPostgres(ctx, cfg.Postgres)
	if err != nil {
		return nil, nil, err
	}
	return registry.New(pool, log), pool.Close, nil
}

type trainConfig struct {
	modelConfig
	Kind     string
	Events   int
	Entities int
	Seed     int64
	Hidden   []int
	Epochs   int
	Holdout  float64
	Mode     string
	Spec     string
	Activate bool
}

func runModelTrain(ctx context.Context, args []string, out io.Writer) error {
	var cfg trainConfig
	f := newModelFlags("train", "generate demo events in memory, fold them with the feature spec, train a model on the label events, export it to ONNX, quantise it, and register both files as a new version", "demo", &cfg.modelConfig)
	f.StringVar(&cfg.Kind, "kind", string(train.MLP), "model kind: lr or mlp")
	f.IntVar(&cfg.Events, "events", train.DefaultDemoEvents, "demo events to generate (about 1% are labels)")
	f.IntVar(&cfg.Entities, "entities", demogen.DefaultEntities, "distinct entities in the demo events")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the demo events and of the training (same seed, same model)")
	cfg.Hidden = train.SmallHidden
	f.Func("hidden", "the mlp's hidden layer widths, comma-separated (256,128), or small (64, a file of a few KB) or large (256,128, about 150 KB, the size INT8 shrinks 4×) (default small)", func(s string) (err error) {
		cfg.Hidden, err = parseHidden(s)
		return err
	})
	f.IntVar(&cfg.Epochs, "epochs", 0, "passes over the training rows (0: the default, 40)")
	f.Float64Var(&cfg.Holdout, "holdout", 0.2, "fraction of the newest labels held out for evaluation")
	f.StringVar(&cfg.Mode, "quant-mode", string(quantize.Modes[0]), "int8 graph form: weight-only or dynamic")
	f.StringVar(&cfg.Spec, "spec", "", "feature spec JSON file (default: the built-in spec)")
	f.BoolVar(&cfg.Activate, "activate", false, "activate the new version")
	log, err := parseModel(f, args, &cfg.modelConfig, true)
	if err != nil {
		return err
	}
	mode, err := quantize.ParseMode(cfg.Mode)
	if err != nil {
		return err
	}
	if !slices.Contains(train.Kinds, train.Kind(cfg.Kind)) {
		return fmt.Errorf("--kind %q: want one of %v", cfg.Kind, train.Kinds)
	}
	if cfg.Events <= 0 || cfg.Entities <= 0 || cfg.Holdout <= 0 || cfg.Holdout >= 1 {
		return errors.New("--events and --entities must be > 0, --holdout in (0, 1)")
	}
	spec, err := loadSpec(cfg.Spec)
	if err != nil {
		return err
	}
	reg, closeReg, err := openRegistry(ctx, &cfg.modelConfig, log, true, "kind", cfg.Kind, "events", cfg.Events,
		"entities", cfg.Entities, "seed", cfg.Seed, "hidden", cfg.Hidden, "epochs", cfg.Epochs, "holdout", cfg.Holdout,
		"quant_mode", mode, "spec", cfg.Spec, "activate", cfg.Activate)
	if err != nil {
		return err
	}
	defer closeReg()

	opts := demomodel.Options{
		Name: cfg.Name, Kind: train.Kind(cfg.Kind), Events: cfg.Events, Entities: cfg.Entities, Seed: cfg.Seed,
		Hidden: cfg.Hidden, Epochs: cfg.Epochs, Holdout: cfg.Holdout, Mode: mode, Logger: log,
	}
	res, err := demomodel.Train(ctx, reg, spec, opts)
	if err != nil {
		return err
	}
	printTrained(out, opts, res)
	return activateIf(ctx, out, reg, cfg.Activate, res.Version)
}

// parseHidden reads --hidden: a preset name or comma-separated widths, each > 0.
func parseHidden(s string) ([]int, error) {
	switch s {
	case "small":
		return train.SmallHidden, nil
	case "large":
		return train.LargeHidden, nil
	}
	var widths []int
	for w := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want small, large or widths > 0 such as 256,128", s)
		}
		widths = append(widths, n)
	}
	return widths, nil
}

// printTrained reports a demo training: the data, the model's metrics, its int8 file and
// the version registered.
func printTrained(out io.Writer, o demomodel.Options, r demomodel.Result) {
	fmt.Fprintf(out, "collected %d labelled rows (%d train, %d holdout) of %d features from %d demo events in %v\n",
		r.Rows, r.Fit.Train.Rows, r.Fit.Holdout.Rows, len(r.Fit.Features), o.Events, r.Collect.Round(time.Millisecond))
	shape := ""
	if r.Fit.Config.Kind == train.MLP {
		shape = fmt.Sprintf(" with hidden layers %v", r.Fit.Config.Hidden)
	}
	fmt.Fprintf(out, "trained %s%s in %v\n", r.Fit.Config.Kind, shape, r.Fit.Took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\trows\tpositives\tlog-loss\tbase-rate log-loss\tAUC\t")
	for _, m := range []struct {
		name string
		train.Metrics
	}{{"train", r.Fit.Train}, {"holdout", r.Fit.Holdout}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.4f\t%.4f\t%.4f\t\n", m.name, m.Rows, m.Positives, m.LogLoss, m.BaseLogLoss, m.AUC)
	}
	tw.Flush()
	fmt.Fprintf(out, "int8 (%s): %s\n", o.Mode, r.INT8)
	fmt.Fprintf(out, "registered %s\n", r.Version)
}

func activateIf(ctx context.Context, out io.Writer, reg *registry.Registry, activate bool, v registry.Version) error {
	if !activate {
		fmt.Fprintf(out, "activate it with: lambda model activate --name %s --version %d\n", v.Model, v.Version)
		return nil
	}
	if err := reg.Activate(ctx, v.Model, v.Version); err != nil {
		return err
	}
	fmt.Fprintf(out, "activated %s\n", v)
	return nil
}

type importConfig struct {
	modelConfig
	Features []string
	FromSpec bool
	Spec     string
	Activate bool
}

func runModelImport(ctx context.Context, args []string, out io.Writer) error {
	var cfg importConfig
	f := newModelFlags("import", "register an ONNX file (one float input [N, F], one score per row) as a new fp32 version, after checking that the runtime loads it and that F is the number of features\n\nUsage: lambda model import FILE.onnx --name N (--features a,b,c | --features-from-spec) [flags]", "", &cfg.modelConfig)
	f.Func("features", "feature names in input order, comma-separated", func(s string) error {
		cfg.Features = strings.Split(s, ",")
		return nil
	})
	f.BoolVar(&cfg.FromSpec, "features-from-spec", false, "take the feature names from the feature spec")
	f.StringVar(&cfg.Spec, "spec", "", "feature spec JSON file for --features-from-spec (default: the built-in spec)")
	f.BoolVar(&cfg.Activate, "activate", false, "activate the new version")
	file, args := positional(args)
	log, err := parseModel(f, args, &cfg.modelConfig, true)
	if err != nil {
		return err
	}
	if file == "" && f.NArg() == 1 {
		file = f.Arg(0)
	} else if f.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", f.Args())
	}
	if file == "" {
		return errors.New("the ONNX file to import is required")
	}
	if (len(cfg.Features) > 0) == cfg.FromSpec {
		return errors.New("give either --features or --features-from-spec")
	}
	if cfg.FromSpec {
		spec, err := loadSpec(cfg.Spec)
		if err != nil {
			return err
		}
		cfg.Features = spec.FeatureNames()
	}
	onnx, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	reg, closeReg, err := openRegistry(ctx, &cfg.modelConfig, log, true, "file", file, "features", cfg.Features, "activate", cfg.Activate)
	if err != nil {
		return err
	}
	defer closeReg()
	v, err := reg.Register(ctx, cfg.Name, cfg.Features, registry.File{Variant: registry.FP32, ONNX: onnx})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "registered %s from %s (%d bytes, %d features)\n", v, file, len(onnx), len(cfg.Features))
	return activateIf(ctx, out, reg, cfg.Activate, v)
}

// positional splits off a leading non-flag argument, so that both `import FILE --name N`
// and `import --name N FILE` work.
func positional(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

type quantizeConfig struct {
	modelConfig
	Version int64
	Mode    string
	Sample  int
	Seed    int64
}

func runModelQuantize(ctx context.Context, args []string, out io.Writer) error {
	var cfg quantizeConfig
	f := newModelFlags("quantize", "quantise the fp32 file of a version to int8, compare both on sample rows (demo data when the version's features are the built-in spec's, else standard normal rows), and add the int8 file to the version", "", &cfg.modelConfig)
	f.Int64Var(&cfg.Version, "version", 0, "version to quantise")
	f.StringVar(&cfg.Mode, "mode", string(quantize.Modes[0]), "int8 graph form: weight-only or dynamic")
	f.IntVar(&cfg.Sample, "sample-events", 200000, "demo events to collect the sample rows from")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the sample")
	log, err := parseModel(f, args, &cfg.modelConfig, true)
	if err != nil {
		return err
	}
	mode, err := quantize.ParseMode(cfg.Mode)
	if err != nil {
		return err
	}
	reg, closeReg, err := openRegistry(ctx, &cfg.modelConfig, log, true, "version", cfg.Version, "mode", mode,
		"sample_events", cfg.Sample, "seed", cfg.Seed)
	if err != nil {
		return err
	}
	defer closeReg()
	v, err := reg.Version(ctx, cfg.Name, cfg.Version)
	if err != nil {
		return err
	}
	if _, ok := v.Artifact(registry.INT8); ok {
		return fmt.Errorf("%s has an int8 file: %w", v, registry.ErrExists)
	}
	fp32, _, err := reg.ONNX(ctx, v.Model, v.Version, registry.FP32)
	if err != nil {
		return err
	}
	sample, err := sampleRows(v.Features, cfg.Sample, cfg.Seed)
	if err != nil {
		return err
	}
	int8, rep, err := quantize.QuantizeAndEvaluate(ctx, fp32, mode, sample, v.InputWidth)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "int8 (%s): %s\n", mode, rep)
	a, err := reg.AddArtifact(ctx, v.Model, v.Version, registry.File{Variant: registry.INT8, ONNX: int8})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "added the int8 file to %s (sha256 %s)\n", v, a.SHA256)
	return nil
}

// sampleRows returns rows to compare fp32 and int8 on: the rows of demo labels when the
// features are the built-in spec's, else 4096 seeded standard normal rows.
func sampleRows(names []string, events int, seed int64) ([]float32, error) {
	spec := features.DefaultSpec()
	if slices.Equal(names, spec.FeatureNames()) {
		d, err := train.Demo(spec, demogen.Config{Seed: seed}, events)
		return d.X, err
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0))
	x := make([]float32, 4096*len(names))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x, nil
}

func runModelList(ctx context.Context, args []string, out io.Writer) error {
	var cfg modelConfig
	f := newModelFlags("list", "list the models and their versions (of one model with --name)", "", &cfg)
	log, err := parseModel(f, args, &cfg, false)
	if err != nil {
		return err
	}
	reg, closeReg, err := openRegistry(ctx, &cfg, log, false)
	if err != nil {
		return err
	}
	defer closeReg()
	names := []string{cfg.Name}
	if cfg.Name == "" {
		names = nil
		models, err := reg.Models(ctx)
		if err != nil {
			return err
		}
		for _, m := range models {
			names = append(names, m.Name)
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tVERSION\tSTATUS\tFEATURES\tFP32\tINT8\tCREATED")
	for _, name := range names {
		vs, err := reg.Versions(ctx, name)
		if err != nil {
			return err
		}
		for _, v := range vs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\n", v.Model, v.Version, v.Status, v.InputWidth,
				describe(v, registry.FP32), describe(v, registry.INT8), v.CreatedAt.UTC().Format(time.RFC3339))
		}
	}
	return tw.Flush()
}

// describe renders a version's file as its size and sha256 prefix, "-" when it has none.
func describe(v registry.Version, variant registry.Variant) string {
	a, ok := v.Artifact(variant)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%d B %s", a.Size, a.SHA256[:12])
}

func runModelActivate(ctx context.Context, args []string, out io.Writer) error {
	var cfg modelConfig
	var version int64
	f := newModelFlags("activate", "make a version the active one; scorers watching the model swap to it at once", "", &cfg)
	f.Int64Var(&version, "version", 0, "version to activate")
	log, err := parseModel(f, args, &cfg, true)
	if err != nil {
		return err
	}
	reg, closeReg, err := openRegistry(ctx, &cfg, log, false, "version", version)
	if err != nil {
		return err
	}
	defer closeReg()
	if err := reg.Activate(ctx, cfg.Name, version); err != nil {
		return err
	}
	fmt.Fprintf(out, "activated %s@%d\n", cfg.Name, version)
	return nil
}

func runModelRollback(ctx context.Context, args []string, out io.Writer) error {
	var cfg modelConfig
	f := newModelFlags("rollback", "reactivate the version that was active before the current one; again to go further back", "", &cfg)
	log, err := parseModel(f, args, &cfg, true)
	if err != nil {
		return err
	}
	reg, closeReg, err := openRegistry(ctx, &cfg, log, false)
	if err != nil {
		return err
	}
	defer closeReg()
	v, err := reg.Rollback(ctx, cfg.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "rolled back %s to version %d\n", cfg.Name, v)
	return nil
}

// loadSpec reads the feature spec file at path, or returns the built-in spec for "".
func loadSpec(path string) (*features.Spec, error) {
	if path == "" {
		return features.DefaultSpec(), nil
	}
	return features.LoadSpec(path)
}
