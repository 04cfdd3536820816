package predict

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/servinglayer/batchstore"
)

// Source names a view.
type Source string

// The views.
const (
	Batch Source = "batch"
	Speed Source = "speed"
)

// Errors of an Answer, matched with errors.Is.
var (
	// ErrNotFound: neither view holds the entity.
	ErrNotFound = errors.New("entity not found")
	// ErrUnavailable: a view the answer needs cannot be read.
	ErrUnavailable = errors.New("view unavailable")
)

// The rows of the views and what they cover, as package views reads them.
type (
	Coverage = views.Coverage
	BatchRow = views.BatchRow
	SpeedRow = views.SpeedRow
)

// BatchSource reads a run's batch view in bulk, to load it (*views.Batch is one).
type BatchSource = batchstore.Source

// SpeedView reads the speed view (*views.Speed is one).
type SpeedView interface {
	// SpeedRows returns the rows of those of ids it holds, in any order.
	SpeedRows(ctx context.Context, ids []string) ([]SpeedRow, error)
	// ListenChanges calls ready once it listens, then changed with the entity ids of
	// every committed change of rows, until ctx ends (it returns nil) or the
	// connection fails.
	ListenChanges(ctx context.Context, ready func(), changed func(ids []string)) error
}

// Runs tells which batch run is published (*runs.Reader is one).
type Runs interface {
	// Published returns the published run; ok is false when none is yet.
	Published(ctx context.Context) (run runs.Run, ok bool, err error)
	// ListenPublished calls ready once it listens, then notify at every publish, until
	// ctx ends (it returns nil) or the connection fails.
	ListenPublished(ctx context.Context, ready, notify func()) error
}

// Choose returns the view whose row answers for an entity, false when neither can:
// the speed row if it is scored and covers a higher offset of the same partition than
// the batch row, else the batch row. Either row may be nil.
func Choose(b *BatchRow, s *SpeedRow) (Source, bool) {
	speed := s != nil && s.Scored
	switch {
	case b == nil && !speed:
		return "", false
	case b == nil:
		return Speed, true
	case speed && s.Partition == b.Partition && s.Offset > b.Offset:
		return Speed, true
	default:
		return Batch, true
	}
}

// Answer is the merged answer for one entity.
type Answer struct {
	EntityID string
	// Batch and Speed are the views' rows, nil when a view has none or is down.
	Batch *BatchRow
	Speed *SpeedRow
	// Source is the view that answers; empty when Err is set.
	Source Source
	// BatchErr and SpeedErr say why a view could not be read.
	BatchErr, SpeedErr error
	// Err is ErrNotFound or ErrUnavailable (wrapped with the reason) when no view answers.
	Err error
}

// Degraded reports whether a view could not be read, and why.
func (a Answer) Degraded() (string, bool) {
	var reasons []string
	for _, err := range []error{a.SpeedErr, a.BatchErr} {
		if err != nil {
			reasons = append(reasons, err.Error())
		}
	}
	return strings.Join(reasons, "; "), len(reasons) > 0
}

// Score is the answering row's score.
func (a Answer) Score() float32 {
	if a.Source == Speed {
		return a.Speed.Score
	}
	return a.Batch.Score
}

// AsOf is the moment the answering row describes.
func (a Answer) AsOf() time.Time {
	if a.Source == Speed {
		return a.Speed.AsOf
	}
	return a.Batch.AsOf
}

// Coverage is what the answering row covers.
func (a Answer) Coverage() Coverage {
	if a.Source == Speed {
		return a.Speed.Coverage
	}
	return a.Batch.Coverage
}

// Model is the model name and version that scored the answering row.
func (a Answer) Model() (string, int64) {
	if a.Source == Speed {
		return a.Speed.ModelName, a.Speed.ModelVersion
	}
	return a.Batch.ModelName, a.Batch.ModelVersion
}

// Vector is the answering row's feature vector.
func (a Answer) Vector() []float32 {
	if a.Source == Speed {
		return a.Speed.Vector
	}
	return a.Batch.Vector
}
