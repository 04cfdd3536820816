package batchrun

import (
	"context"
	"errors"
)

// Errors matched with errors.Is.
var (
	// ErrModelMismatch: the active model does not take the feature spec's vectors.
	ErrModelMismatch = errors.New("model inputs do not match the feature spec")
	// ErrNoPartitions: the cutoff source knows no Kafka partition.
	ErrNoPartitions = errors.New("no kafka partitions in the cutoff")
)

// stageError tags an error with the step of the run it happened in, the failure reason.
type stageError struct {
	reason string
	err    error
}

func (e *stageError) Error() string { return e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// staged tags err with reason unless it already carries one.
func staged(reason string, err error) error {
	var se *stageError
	if err == nil || errors.As(err, &se) {
		return err
	}
	return &stageError{reason: reason, err: err}
}

// failureReason is the reason label of a failed run's error; execute tags every
// error with its step.
func failureReason(err error) string {
	var se *stageError
	switch {
	case errors.Is(err, context.Canceled):
		return reasonCanceled
	case errors.As(err, &se):
		return se.reason
	}
	return reasonModel
}
