package features_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/internal/features"
)

func TestDefaultSpec(t *testing.T) {
	spec := features.DefaultSpec()
	want := []string{
		"count_all", "count_view", "count_click", "count_add_to_cart", "count_purchase",
		"sum_purchase_value", "mean_purchase_value", "max_purchase_value", "last_value",
		"distinct_category", "recency_seconds", "count_click_1h", "count_click_24h",
		"count_add_to_cart_24h", "sum_purchase_7d",
	}
	if got := spec.FeatureNames(); !slices.Equal(got, want) {
		t.Errorf("names = %v", got)
	}
	if spec.Len() != len(want) || spec.Bucket().Hours() != 1 {
		t.Errorf("len %d bucket %s", spec.Len(), spec.Bucket())
	}
}

func TestLoadSpec(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, []byte(fullSpecJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := features.LoadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Fingerprint() != fullSpec(t).Fingerprint() {
		t.Error("fingerprint differs for the same spec")
	}
	if _, err := features.LoadSpec(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSpecValidation(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       []error
	}{
		{"unknown aggregation", `{"features": [{"name": "a", "agg": "median"}]}`, []error{features.ErrUnknownAggregation}},
		{"duplicate name", `{"features": [{"name": "a", "agg": "count"}, {"name": "a", "agg": "sum"}]}`, []error{features.ErrDuplicateName}},
		{"bad name", `{"features": [{"name": "1a", "agg": "count"}]}`, []error{features.ErrInvalidName}},
		{"window not a multiple", `{"bucket": "1h", "features": [{"name": "a", "agg": "count", "window": "90m"}]}`, []error{features.ErrInvalidWindow}},
		{"window unparsable", `{"features": [{"name": "a", "agg": "count", "window": "soon"}]}`, []error{features.ErrInvalidWindow}},
		{"window on max", `{"features": [{"name": "a", "agg": "max", "window": "1h"}]}`, []error{features.ErrInvalidWindow}},
		{"window too long", `{"bucket": "1s", "features": [{"name": "a", "agg": "count", "window": "7d"}]}`, []error{features.ErrInvalidWindow}},
		{"bucket too small", `{"bucket": "10ms", "features": [{"name": "a", "agg": "count"}]}`, []error{features.ErrInvalidBucket}},
		{"distinct without attr", `{"features": [{"name": "a", "agg": "distinct"}]}`, []error{features.ErrInvalidAttr}},
		{"attr on count", `{"features": [{"name": "a", "agg": "count", "attr": "x"}]}`, []error{features.ErrInvalidAttr}},
		{"filter on excluded type", `{"exclude_types": ["label"], "features": [{"name": "a", "agg": "count", "type": "label"}]}`, []error{features.ErrInvalidFilter}},
		{"empty filter", `{"features": [{"name": "a", "agg": "count", "type": []}]}`, []error{features.ErrInvalidFilter}},
		{"default on count", `{"features": [{"name": "a", "agg": "count", "default": 1}]}`, []error{features.ErrInvalidDefault}},
		{"no features", `{"features": []}`, []error{features.ErrNoFeatures}},
		{"approximate count", `{"features": [{"name": "a", "agg": "count", "approximate": "hll"}]}`, []error{features.ErrInvalidApproximate}},
		{"approximate method", `{"features": [{"name": "a", "agg": "distinct", "attr": "x", "approximate": "theta"}]}`, []error{features.ErrInvalidApproximate}},
		{"precision too low", `{"features": [{"name": "a", "agg": "distinct", "attr": "x", "approximate": "hll", "precision": 3}]}`, []error{features.ErrInvalidApproximate}},
		{"precision too high", `{"features": [{"name": "a", "agg": "distinct", "attr": "x", "approximate": "hll", "precision": 17}]}`, []error{features.ErrInvalidApproximate}},
		{"precision without approximate", `{"features": [{"name": "a", "agg": "distinct", "attr": "x", "precision": 12}]}`, []error{features.ErrInvalidApproximate}},
		{"unknown field", `{"features": [{"name": "a", "agg": "count", "windw": "1h"}]}`, nil},
		{"several problems", `{"features": [{"name": "a", "agg": "median"}, {"name": "a", "agg": "count", "window": "1x"}]}`,
			[]error{features.ErrUnknownAggregation, features.ErrDuplicateName, features.ErrInvalidWindow}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := features.ParseSpec([]byte(tc.spec))
			if !errors.Is(err, features.ErrInvalidSpec) {
				t.Fatalf("err = %v, want ErrInvalidSpec", err)
			}
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

func TestSpecErrorNamesTheFeature(t *testing.T) {
	_, err := features.ParseSpec([]byte(`{"features": [{"name": "ok", "agg": "count"}, {"name": "bad", "agg": "median"}]}`))
	if err == nil || !strings.Contains(err.Error(), `feature 1 ("bad")`) || !strings.Contains(err.Error(), `"median"`) {
		t.Errorf("err = %v", err)
	}
}

func TestTypeFilterStringOrList(t *testing.T) {
	one := mustSpec(t, `{"features": [{"name": "a", "agg": "count", "type": "click"}]}`)
	list := mustSpec(t, `{"features": [{"name": "a", "agg": "count", "type": ["click"]}]}`)
	if one.Fingerprint() != list.Fingerprint() {
		t.Error(`"click" and ["click"] differ`)
	}
}

func TestFingerprintCoversLayoutOnly(t *testing.T) {
	base := mustSpec(t, `{"features": [{"name": "a", "agg": "sum", "type": ["x", "y"]}, {"name": "w", "agg": "count", "window": "2h"}]}`)
	for _, tc := range []struct {
		spec string
		same bool
	}{
		{`{"features": [{"name": "b", "agg": "sum", "type": ["y", "x"]}, {"name": "w2", "agg": "count", "window": "2h"}]}`, true},
		{`{"features": [{"name": "a", "agg": "sum", "type": ["x", "y"]}, {"name": "m", "agg": "mean", "type": ["x", "y"]}, {"name": "w", "agg": "count", "window": "2h"}]}`, true},
		{`{"features": [{"name": "a", "agg": "sum", "type": ["x"]}, {"name": "w", "agg": "count", "window": "2h"}]}`, false},
		{`{"features": [{"name": "a", "agg": "sum", "type": ["x", "y"]}, {"name": "w", "agg": "count", "window": "3h"}]}`, false},
		{`{"bucket": "30m", "features": [{"name": "a", "agg": "sum", "type": ["x", "y"]}, {"name": "w", "agg": "count", "window": "2h"}]}`, false},
		{`{"exclude_types": ["label"], "features": [{"name": "a", "agg": "sum", "type": ["x", "y"]}, {"name": "w", "agg": "count", "window": "2h"}]}`, false},
	} {
		if got := mustSpec(t, tc.spec).Fingerprint() == base.Fingerprint(); got != tc.same {
			t.Errorf("%s: same fingerprint = %v, want %v", tc.spec, got, tc.same)
		}
	}
}
