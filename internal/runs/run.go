package runs

import (
	"errors"
	"fmt"
	"time"
)

// Status is where a run is in its life.
type Status string

// The statuses; see the package doc. The schema also allows 'succeeded' (written,
// not yet published), which this registry skips: it publishes as soon as a run is
// written.
const (
	StatusRunning   Status = "running"
	StatusPublished Status = "published"
	StatusFailed    Status = "failed"
	StatusExpired   Status = "expired"
)

// Triggers: what started a run.
const (
	TriggerCron = "cron"
	TriggerREST = "rest"
	TriggerCLI  = "cli"
)

// Errors matched with errors.Is.
var (
	// ErrNotFound: no run with that id, or none in the state asked for.
	ErrNotFound = errors.New("batch run not found")
	// ErrNoPublished: no run has been published yet.
	ErrNoPublished = errors.New("no published batch run")
	// ErrNotRunning: the run is no longer running (it failed, for instance because a new
	// trigger found its process gone), so it cannot publish or fail again.
	ErrNotRunning = errors.New("batch run is not running")
	// ErrBusy: a trigger found the batch lock held by another session but no run
	// recorded as running (it is about to start or has just ended) for a while.
	ErrBusy = errors.New("batch lock held but no run recorded as running")
	// ErrTriggerClosed: a trigger came after its runner was closed.
	ErrTriggerClosed = errors.New("batch runner closed")
	// ErrInvalidTrigger: the trigger is not cron, rest or cli.
	ErrInvalidTrigger = errors.New("invalid batch run trigger")
)

// ValidTrigger reports whether trigger is one the schema accepts.
func ValidTrigger(trigger string) error {
	switch trigger {
	case TriggerCron, TriggerREST, TriggerCLI:
		return nil
	}
	return fmt.Errorf("%w %q: want cron, rest or cli", ErrInvalidTrigger, trigger)
}

// Run is one row of batch_runs. Zero times are NULL.
type Run struct {
	ID          int64
	Status      Status
	Trigger     string
	RequestedBy string
	CreatedAt   time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	PublishedAt time.Time
	ExpiredAt   time.Time
	// CutoffOffsets holds, per Kafka partition (the index), the highest offset the run
	// includes; -1 includes nothing of that partition.
	CutoffOffsets []int64
	// CutoffImported is the highest import sequence number included (-1: none).
	CutoffImported int64
	// CutoffEventTime is the newest event time included: the as_of of every row of the
	// run's view. The batch view's staleness is the time since it.
	CutoffEventTime time.Time
	Counts
	ModelName    string
	ModelVersion int64
	// Error says why a failed run failed.
	Error string
}

// Counts are what a run did, and what it cost (package cost).
type Counts struct {
	EventsRead     int64
	EntitiesScored int64
	RowsWritten    int64
	CPUSeconds     float64
	PeakHeapBytes  int64
	BytesRead      int64 // from ClickHouse
	BytesStored    int64 // the view on disk in ClickHouse; 0 when not measured
}

// Cutoff is what a run reads and scores with, recorded once it is known.
type Cutoff struct {
	Offsets      []int64
	Imported     int64
	EventTime    time.Time // zero: no events
	ModelName    string
	ModelVersion int64
}

// CutoffOf returns the run's cutoff offset in partition p: -1 when it includes
// nothing of it (also for a partition beyond CutoffOffsets).
func (r Run) CutoffOf(p int) int64 {
	if p < len(r.CutoffOffsets) {
		return r.CutoffOffsets[p]
	}
	return -1
}
