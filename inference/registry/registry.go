package registry

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/inference"
)

// Variant names the form of a version's ONNX file.
type Variant string

// The variants.
const (
	FP32 Variant = "fp32"
	INT8 Variant = "int8"
)

// Variants lists the variants in the order they are shown.
var Variants = []Variant{FP32, INT8}

// Status is where a version is in its life.
type Status string

// The statuses: a version is registered, becomes active when activated, and is retired
// when another version replaces it.
const (
	Registered Status = "registered"
	Active     Status = "active"
	Retired    Status = "retired"
)

// Model is a named model.
type Model struct {
	Name        string
	Description string
	CreatedAt   time.Time
	// ActiveVersion is the version the scorers use, 0 when none is active.
	ActiveVersion int64
	// LatestVersion is the newest version, 0 for a model without versions.
	LatestVersion int64
}

// Version is one version of a model.
type Version struct {
	Model      string
	Version    int64
	Features   []string
	InputWidth int
	Status     Status
	CreatedAt  time.Time
	// Artifacts are the version's files, in the order of Variants.
	Artifacts []Artifact
}

// Meta is the metadata the scorer loads the version with.
func (v Version) Meta() inference.Meta {
	return inference.Meta{Name: v.Model, Version: v.Version, Features: v.Features}
}

// Artifact returns the version's file of variant, false when it has none.
func (v Version) Artifact(variant Variant) (Artifact, bool) {
	i := slices.IndexFunc(v.Artifacts, func(a Artifact) bool { return a.Variant == variant })
	if i < 0 {
		return Artifact{}, false
	}
	return v.Artifacts[i], true
}

// String renders the version as name@version.
func (v Version) String() string { return fmt.Sprintf("%s@%d", v.Model, v.Version) }

// Artifact describes one ONNX file of a version.
type Artifact struct {
	Variant Variant
	// SHA256 is the hex digest of the file, its HTTP ETag.
	SHA256    string
	Size      int64
	CreatedAt time.Time
}

// File is an ONNX file to register.
type File struct {
	Variant Variant
	ONNX    []byte
}

// Registry reads and writes the model registry tables. It is safe for concurrent use.
type Registry struct {
	db  *pgxpool.Pool
	log *slog.Logger
}

// New returns a registry on db, whose schema the migrations have brought up to date.
func New(db *pgxpool.Pool, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{db: db, log: log}
}

// namePattern is what a model name may look like: it appears in URLs, SQL parameters and
// the directory names of edge nodes, so it has no separator, no NUL, no quote, and
// cannot be "." or "..".
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// CheckName returns an error wrapping ErrInvalidName unless name is a valid model name:
// 1-100 of [A-Za-z0-9_.-], starting with a letter or digit. Every model name from outside
// (REST paths, an upstream's manifest, flags) is checked with it before it names a file.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w %q: want 1-100 of [A-Za-z0-9_.-], starting with a letter or digit", ErrInvalidName, name)
	}
	return nil
}
