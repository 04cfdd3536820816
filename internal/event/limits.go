package event

// Limits enforced by Decode, DecodeMany and Validate.
const (
	// MaxEventBytes bounds one event document, and the canonical encoding of an event.
	MaxEventBytes = 64 << 10
	// MaxBatchBytes bounds a whole DecodeMany body.
	MaxBatchBytes = 4 << 20
	// MaxBatchEvents bounds the number of events in a DecodeMany array.
	MaxBatchEvents = 1000
	// MaxIDBytes bounds event_id and entity_id.
	MaxIDBytes = 256
	// MaxTypeBytes bounds type.
	MaxTypeBytes = 64
	// MaxAttrs bounds the number of entries in attrs.
	MaxAttrs = 64
	// MaxAttrKeyBytes bounds an attrs key.
	MaxAttrKeyBytes = 128
	// MaxAttrValueBytes bounds an attrs value (for numbers, their literal text).
	MaxAttrValueBytes = 1024
)
