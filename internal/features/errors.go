package features

import (
	"errors"
	"fmt"
)

// ErrInvalidSpec is wrapped by every error a feature spec can fail validation with;
// the more specific errors below wrap it, so errors.Is(err, ErrInvalidSpec) holds for all.
var ErrInvalidSpec = errors.New("invalid feature spec")

// Specific spec validation errors.
var (
	ErrUnknownAggregation = fmt.Errorf("%w: unknown aggregation", ErrInvalidSpec)
	ErrDuplicateName      = fmt.Errorf("%w: duplicate feature name", ErrInvalidSpec)
	ErrInvalidName        = fmt.Errorf("%w: invalid feature name", ErrInvalidSpec)
	ErrInvalidBucket      = fmt.Errorf("%w: invalid bucket", ErrInvalidSpec)
	ErrInvalidWindow      = fmt.Errorf("%w: invalid window", ErrInvalidSpec)
	ErrInvalidFilter      = fmt.Errorf("%w: invalid type filter", ErrInvalidSpec)
	ErrInvalidAttr        = fmt.Errorf("%w: invalid attr", ErrInvalidSpec)
	ErrInvalidDefault     = fmt.Errorf("%w: invalid default", ErrInvalidSpec)
	ErrNoFeatures         = fmt.Errorf("%w: no features", ErrInvalidSpec)
	ErrInvalidApproximate = fmt.Errorf("%w: invalid approximation", ErrInvalidSpec)
)

// State errors.
var (
	// ErrCorruptState is returned by Decode for bytes that are not a valid encoded state.
	ErrCorruptState = errors.New("corrupt feature state")
	// ErrStateVersion is returned by Decode for an encoding version this build cannot read.
	ErrStateVersion = errors.New("unsupported feature state version")
	// ErrSpecMismatch is returned when a state was built under a spec with another
	// state layout (see Spec.Fingerprint) than the one used to decode or merge it.
	ErrSpecMismatch = errors.New("feature state built under a different spec")
)

// Fold errors.
var (
	// ErrRecordSchema is returned for an Arrow record that does not carry EventSchema's columns.
	ErrRecordSchema = errors.New("arrow record does not match the event schema")
	// ErrNotSorted is returned by Stream when entity_id goes backwards.
	ErrNotSorted = errors.New("input not sorted by entity_id")
)
