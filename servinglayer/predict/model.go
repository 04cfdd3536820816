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
	Kappa Source = "kappa" // the live Kappa replay's view
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

// KappaViews reads the Kappa replays' views (*views.Kappa is one).
type KappaViews interface {
	// Live returns the id of the live replay (0 when none is) and, per partition, the
	// last offset its view covers (every row of the partition covers that much).
	Live(ctx context.Context) (id int64, covered []int64, err error)
	// KappaRows returns the rows of those of ids the view of replay id holds.
	KappaRows(ctx context.Context, id int64, ids []string) ([]SpeedRow, error)
	// ListenReplays calls ready once it listens, then notify at every change of a
	// replay's status, until ctx ends (it returns nil) or the connection fails.
	ListenReplays(ctx context.Context, ready, notify func()) error
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
	// Batch and Speed are the views' rows, nil when a view has none or is down; Kappa
	// is the live replay's row, read only while a replay is live.
	Batch *BatchRow
	Speed *SpeedRow
	Kappa *SpeedRow
	// KappaReplay is the live replay Kappa comes from.
	KappaReplay int64
	// Source is the view that answers; empty when Err is set.
	Source Source
	// BatchErr, SpeedErr and KappaErr say why a view could not be read.
	BatchErr, SpeedErr, KappaErr error
	// Err is ErrNotFound or ErrUnavailable (wrapped with the reason) when no view answers.
	Err error
}

// Degraded reports whether a view could not be read, and why.
func (a Answer) Degraded() (string, bool) {
	var reasons []string
	for _, err := range []error{a.SpeedErr, a.BatchErr, a.KappaErr} {
		if err != nil {
			reasons = append(reasons, err.Error())
		}
	}
	return strings.Join(reasons, "; "), len(reasons) > 0
}

// row is the answering row, when a speed-shaped view answers.
func (a Answer) row() *SpeedRow {
	if a.Source == Kappa {
		return a.Kappa
	}
	return a.Speed
}

// Score is the answering row's score.
func (a Answer) Score() float32 {
	if a.Source == Batch {
		return a.Batch.Score
	}
	return a.row().Score
}

// AsOf is the moment the answering row describes.
func (a Answer) AsOf() time.Time {
	if a.Source == Batch {
		return a.Batch.AsOf
	}
	return a.row().AsOf
}

// Coverage is what the answering row covers.
func (a Answer) Coverage() Coverage {
	if a.Source == Batch {
		return a.Batch.Coverage
	}
	return a.row().Coverage
}

// Model is the model name and version that scored the answering row.
func (a Answer) Model() (string, int64) {
	if a.Source == Batch {
		return a.Batch.ModelName, a.Batch.ModelVersion
	}
	return a.row().ModelName, a.row().ModelVersion
}

// Vector is the answering row's feature vector.
func (a Answer) Vector() []float32 {
	if a.Source == Batch {
		return a.Batch.Vector
	}
	return a.row().Vector
}

// preferKappa reports whether a replay's row k answers instead of the Lambda answer a:
// it is scored and covers at least as much of the entity's partition as a (strictly
// more, with strict). A live replay answers with strict false: a switch to it never
// makes an answer go back in coverage, since while its job is a few offsets behind the
// speed layer the Lambda views answer. A replay just released answers with strict true,
// for a grace period, so that a release does not either while the speed layer is
// behind the replay's job.
func preferKappa(a *Answer, k *SpeedRow, strict bool) bool {
	if k == nil || !k.Scored {
		return false
	}
	if a.Source == "" {
		return true
	}
	c := a.Coverage()
	return k.Partition == c.Partition && (k.Offset > c.Offset || !strict && k.Offset == c.Offset)
}
