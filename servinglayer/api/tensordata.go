package api

// TensorData is an inference input's data: the JSON `data` value as sent (flat or
// nested, decoded by the handler, which knows the input's datatype and shape), or the
// input's raw bytes from the binary section of the binary tensor data extension.
type TensorData struct {
	// JSON is the `data` value's text; nil when the input is in the binary section.
	JSON []byte
	// Binary is the input's part of the binary section.
	Binary []byte
}

// UnmarshalJSON keeps the value's text.
func (d *TensorData) UnmarshalJSON(b []byte) error {
	d.JSON = append(d.JSON[:0], b...)
	return nil
}

// MarshalJSON writes the JSON text back; binary data follows the JSON header, outside it.
func (d TensorData) MarshalJSON() ([]byte, error) { return d.JSON, nil }
