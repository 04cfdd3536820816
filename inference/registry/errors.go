package registry

import "errors"

// Errors returned by the registry, matched with errors.Is. Files that are not models the
// scorer loads fail with errors wrapping inference.ErrInvalidModel.
var (
	// ErrNotFound: no such model, version or artifact.
	ErrNotFound = errors.New("not found")
	// ErrNoActive: the model has no active version.
	ErrNoActive = errors.New("no active version")
	// ErrNoPrevious: a rollback found no earlier active version.
	ErrNoPrevious = errors.New("no previous active version")
	// ErrFeatureMismatch: the feature names are empty or repeated, or their number is not
	// the model's input width.
	ErrFeatureMismatch = errors.New("feature mismatch")
	// ErrInvalidVariant: the variant is not fp32 or int8, is given twice, or a new version
	// lacks its fp32 file.
	ErrInvalidVariant = errors.New("invalid variant")
	// ErrExists: the version already has a file of that variant.
	ErrExists = errors.New("already exists")
	// ErrInvalidName: a model name that is empty, too long or not [A-Za-z0-9_.-].
	ErrInvalidName = errors.New("invalid model name")
)
