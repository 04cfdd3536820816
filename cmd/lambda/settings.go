package main

import (
	"os"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/gctune"
)

// scoringSettings name the model that scores and the feature spec its input follows,
// for every command that scores (batch, speed, serve, up).
type scoringSettings struct {
	Model string
	Spec  string
}

// Register binds the section to flags.
func (s *scoringSettings) Register(f *config.Flags) {
	f.String(&s.Model, "model", "LAMBDA_MODEL", "demo", "name of the model whose active version scores")
	f.String(&s.Spec, "spec", "LAMBDA_FEATURE_SPEC", "", "feature spec JSON file (default: the built-in spec)")
}

// archiverGroup is the archiver's consumer group: the archiver runs in it, and its
// committed offsets are the batch cutoff.
type archiverGroup struct {
	ID string
}

// Register binds the section to flags.
func (g *archiverGroup) Register(f *config.Flags) {
	f.String(&g.ID, "archiver-group", "LAMBDA_ARCHIVER_GROUP", archiver.DefaultGroupID, "consumer group of the archiver, whose committed offsets are the batch cutoff")
}

// gcSettings is the garbage collector's heap headroom of a long-running command
// (package gctune), from its own default: gctune.DefaultHeadroomMB, or
// gctune.FoldHeadroomMB where streams and batch runs are folded.
type gcSettings struct {
	HeadroomMB int
	def        int
}

// Register binds the setting to its flag.
func (s *gcSettings) Register(f *config.Flags) {
	f.Int(&s.HeadroomMB, "gc-headroom-mb", "LAMBDA_GC_HEADROOM_MB", s.def,
		"heap growth in MiB allowed between garbage collections at least (fewer pauses under load; 0, or GOGC set: Go's default)")
}

// start keeps the headroom until stop, unless GOGC is set or it is 0.
func (s gcSettings) start() (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set || s.HeadroomMB <= 0 {
		return func() {}
	}
	return gctune.Start(int64(s.HeadroomMB) << 20)
}
