package speedlayer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/internal/runs"
)

// Runs finds the published batch run and the one in progress (*runs.Reader is one).
type Runs interface {
	// Published returns the run readers are served; ok is false when none is.
	Published(ctx context.Context) (run runs.Run, ok bool, err error)
	// Running returns the run in progress once its cutoff is recorded; ok is false
	// when there is none.
	Running(ctx context.Context) (run runs.Run, ok bool, err error)
}

// Bases reads the batch view of a run (*views.Batch is one).
type Bases interface {
	// States returns the encoded feature state (features.State.AppendBinary) the
	// run holds for each of entityIDs that it has a row for.
	States(ctx context.Context, runID int64, entityIDs []string) (map[string][]byte, error)
}

// Archive reads the master dataset the batch runs fold (*master.Dataset is one).
type Archive interface {
	// EventIDs calls fn with the entity_id and event_id of every archived event of
	// partition at offsets in (after, upTo] with an event time at or after since.
	EventIDs(ctx context.Context, partition int, after, upTo int64, since time.Time, fn func(entityID, eventID string)) error
}

// Model names the model version that scored rows; the zero Model means none did.
type Model struct {
	Name    string
	Version int64
}

// Scorer scores rows of features.
type Scorer interface {
	// Score returns one score per row of x (rows of width values each) and the model
	// that computed them, or nil scores and the zero Model when no model is loaded.
	Score(ctx context.Context, x []float32, width int) ([]float32, Model, error)
	// Current returns the model Score would use now, the zero Model when none.
	Current() Model
}

// Row is one speed_view row.
type Row struct {
	EntityID string
	// BaseRunID is the batch run whose state DeltaState is merged onto (0: none).
	BaseRunID int64
	Partition int
	// CoveredOffset is the last offset applied in the entity's partition.
	CoveredOffset int64
	// LastEventAt is the entity's newest event time in base ⊕ delta.
	LastEventAt time.Time
	// AsOf is the time Vector is taken at.
	AsOf time.Time
	// DeltaState is the encoded fold of the entity's events after the base run's cutoff.
	DeltaState []byte
	// Vector is the model input and Score its output; Vector is nil when no model
	// scored the row.
	Vector []float32
	Score  float32
}

// View is the speed_view table.
type View interface {
	// Upsert writes rows scored by model in one round trip. A row replaces the stored
	// one only if it covers a later offset, or the same offset with another base run
	// or model, so writing a row again changes nothing. It returns the rows changed.
	Upsert(ctx context.Context, model Model, rows []Row) (int64, error)
	// DeleteDominated deletes the rows of partition not based on run runID that cover
	// no offset after cutoff: the run's batch view covers at least as much of them.
	DeleteDominated(ctx context.Context, partition int, runID, cutoff int64) (int64, error)
}

// HolderScorer scores with the model an inference.Holder serves; while it serves
// none, rows are written unscored.
type HolderScorer struct {
	Holder *inference.Holder
}

// Current implements Scorer.
func (s HolderScorer) Current() Model {
	meta, ok := s.Holder.Meta()
	if !ok {
		return Model{}
	}
	return Model{Name: meta.Name, Version: meta.Version}
}

// Score implements Scorer.
func (s HolderScorer) Score(ctx context.Context, x []float32, width int) ([]float32, Model, error) {
	var (
		scores []float32
		model  Model
	)
	err := s.Holder.Use(func(m *inference.Model) error {
		meta := m.Meta()
		model = Model{Name: meta.Name, Version: meta.Version}
		var err error
		scores, err = m.ScoreFlat(ctx, x, width)
		return err
	})
	switch {
	case errors.Is(err, inference.ErrModelNotLoaded):
		return nil, Model{}, nil
	case err != nil:
		return nil, Model{}, fmt.Errorf("score %d rows: %w", len(x)/max(width, 1), err)
	}
	return scores, model, nil
}
