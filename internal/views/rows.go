package views

import "time"

// Coverage is what part of the log a row covers.
type Coverage struct {
	// Partition is the entity's Kafka partition.
	Partition int32
	// Offset is the highest offset of Partition the row includes.
	Offset int64
	// LastEvent is the entity's newest event time the row includes.
	LastEvent time.Time
}

// BatchRow is an entity's row of a batch run's view.
type BatchRow struct {
	EntityID string
	RunID    int64
	Coverage
	// AsOf is the moment the vector and score describe: the run's newest event time.
	AsOf         time.Time
	Vector       []float32
	Score        float32
	ModelName    string
	ModelVersion int64
}

// SpeedRow is an entity's row of the speed view.
type SpeedRow struct {
	EntityID string
	// BaseRunID is the batch run the row's delta is merged onto, 0 for none.
	BaseRunID int64
	Coverage
	AsOf      time.Time
	UpdatedAt time.Time
	// Scored says whether a model has scored the row; Vector, Score and the model are
	// set only then.
	Scored       bool
	Vector       []float32
	Score        float32
	ModelName    string
	ModelVersion int64
}
