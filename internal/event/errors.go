package event

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

var (
	// ErrInvalid matches every error returned for an event that breaks the schema.
	ErrInvalid = errors.New("invalid event")
	// ErrTooLarge matches errors for inputs over a size or count limit; it also
	// matches ErrInvalid.
	ErrTooLarge = fmt.Errorf("%w: too large", ErrInvalid)
)

// FieldError reports a schema violation in one field.
type FieldError struct {
	Field  string // "ts", "attrs", "attrs.device", or the unknown field's name
	Reason string // what is wrong, e.g. "must not be empty"
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Reason) }

// Unwrap makes a FieldError match ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// SyntaxError reports input that is not the JSON expected, at a byte offset of the
// input given to Decode or DecodeMany.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("syntax error at byte %d: %s", e.Offset, e.Msg)
}

// Unwrap makes a SyntaxError match ErrInvalid.
func (e *SyntaxError) Unwrap() error { return ErrInvalid }

// tooLargeError is an input over a size or count limit; it matches ErrTooLarge.
type tooLargeError string

func (e tooLargeError) Error() string { return string(e) }

func (e tooLargeError) Unwrap() error { return ErrTooLarge }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// clipLen is how much of a long input an error message quotes.
const clipLen = 64

// clip shortens s for an error message, cutting on a rune boundary.
func clip(s string) string {
	if len(s) <= clipLen {
		return s
	}
	n := clipLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
