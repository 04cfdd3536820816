package features

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
)

// Definition is the user-editable, declarative feature spec (the JSON document).
// Compile validates it into a Spec.
type Definition struct {
	// Bucket is the width of the event-time buckets windows are kept in, e.g. "1h".
	// Empty means "1h". It must be a whole number of seconds.
	Bucket string `json:"bucket,omitempty"`
	// ExcludeTypes are event types no feature ever sees (e.g. "label", the training
	// target): such events are dropped before deduplication and folding.
	ExcludeTypes []string `json:"exclude_types,omitempty"`
	// Features are the model's input columns, in order.
	Features []FeatureDef `json:"features"`
}

// FeatureDef declares one feature.
type FeatureDef struct {
	// Name is the column name: letters, digits and '_', not starting with a digit.
	Name string `json:"name"`
	// Agg is one of count, sum, mean, min, max, last, distinct, recency.
	Agg string `json:"agg"`
	// Type restricts the feature to events of these types (JSON: a string or a list);
	// empty means every type not excluded by the spec.
	Type TypeList `json:"type,omitempty"`
	// Attr names the attribute a distinct feature counts the values of.
	Attr string `json:"attr,omitempty"`
	// Window, for count, sum and mean, limits the feature to an event-time window
	// ending at as_of ("1h", "24h", "7d"); a multiple of the spec's bucket.
	Window string `json:"window,omitempty"`
	// Approximate, for distinct, names an approximation the speed layer may use
	// instead of the exact set: "hll" (a HyperLogLog sketch; see the package doc for
	// its error bound). The batch layer always counts exactly. Empty means exact.
	Approximate string `json:"approximate,omitempty"`
	// Precision is the HyperLogLog precision p, 4 to 16: 2^p registers, a standard
	// error of 1.04/√(2^p) once the sketch is dense. Unset means 12.
	Precision *int `json:"precision,omitempty"`
	// Default is the value emitted when the aggregate is undefined because nothing
	// was folded into it (mean, min, max, last, recency); 0 when unset.
	Default *float64 `json:"default,omitempty"`
}

// TypeList is a type filter; in JSON a single string or a list of strings.
type TypeList []string

// UnmarshalJSON accepts "view" as well as ["view", "click"].
func (t *TypeList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("type filter: %w", err)
		}
		*t = TypeList{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("type filter: %w", err)
	}
	*t = l
	return nil
}

//go:embed default_spec.json
var defaultSpecJSON []byte

// DefaultSpec returns the built-in demo spec (default_spec.json): counts per event
// type, purchase value aggregates, last value, distinct categories, recency and
// click/cart/purchase windows; "label" events are excluded from every feature.
func DefaultSpec() *Spec {
	s, err := ParseSpec(defaultSpecJSON)
	if err != nil {
		panic(fmt.Sprintf("built-in feature spec: %v", err)) // guarded by TestDefaultSpec
	}
	return s
}

// ParseSpec decodes a JSON Definition (unknown fields are rejected) and compiles it.
func ParseSpec(data []byte) (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Definition
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the spec object", ErrInvalidSpec)
	}
	return Compile(d)
}

// LoadSpec reads and compiles the JSON spec file at path.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read feature spec: %w", err)
	}
	s, err := ParseSpec(data)
	if err != nil {
		return nil, fmt.Errorf("feature spec %s: %w", path, err)
	}
	return s, nil
}
