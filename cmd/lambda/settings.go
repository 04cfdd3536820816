package main

import (
	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/internal/config"
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
