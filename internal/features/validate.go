package features

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	defaultBucket = time.Hour
	// maxWindowBuckets bounds a window's length in buckets, which bounds a state's size.
	maxWindowBuckets = 1 << 16
)

var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checked holds what validate parsed from a Definition.
type checked struct {
	bucketUS int64
	excluded []string
	aggs     []aggKind
	windows  []int64 // per feature, in buckets; 0 = unwindowed
	hllP     []uint8 // per feature, the speed layer's HyperLogLog precision; 0 = exact
}

// validate checks d and returns every problem joined.
func validate(d Definition) (checked, error) {
	var errs []error
	c := checked{bucketUS: int64(defaultBucket / time.Microsecond)}
	if d.Bucket != "" {
		b, err := parseSpan(d.Bucket)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("bucket %q: %w: %w", d.Bucket, ErrInvalidBucket, err))
		case b < time.Second || b%time.Second != 0:
			errs = append(errs, fmt.Errorf("bucket %q: %w: must be a positive whole number of seconds", d.Bucket, ErrInvalidBucket))
		default:
			c.bucketUS = int64(b / time.Microsecond)
		}
	}
	excluded := map[string]bool{}
	for _, t := range d.ExcludeTypes {
		if t == "" || excluded[t] {
			errs = append(errs, fmt.Errorf("exclude_types %q: %w: empty or repeated type", t, ErrInvalidFilter))
		}
		excluded[t] = true
	}
	c.excluded = sortedUnique(d.ExcludeTypes)
	if len(d.Features) == 0 {
		errs = append(errs, ErrNoFeatures)
	}
	seen := map[string]bool{}
	for i, f := range d.Features {
		agg, k, ferrs := validateFeature(f, c.bucketUS, excluded)
		if f.Name != "" && seen[f.Name] {
			ferrs = append(ferrs, ErrDuplicateName)
		}
		seen[f.Name] = true
		for _, err := range ferrs {
			errs = append(errs, fmt.Errorf("feature %d (%q): %w", i, f.Name, err))
		}
		c.aggs = append(c.aggs, agg)
		c.windows = append(c.windows, k)
		p, perrs := validateApproximate(f, agg)
		for _, err := range perrs {
			errs = append(errs, fmt.Errorf("feature %d (%q): %w", i, f.Name, err))
		}
		c.hllP = append(c.hllP, p)
	}
	return c, errors.Join(errs...)
}

func validateFeature(f FeatureDef, bucketUS int64, excluded map[string]bool) (aggKind, int64, []error) {
	var errs []error
	if !namePattern.MatchString(f.Name) {
		errs = append(errs, fmt.Errorf("%w: want letters, digits and '_', not starting with a digit", ErrInvalidName))
	}
	agg, ok := aggByName[f.Agg]
	if !ok {
		errs = append(errs, fmt.Errorf("%w %q: want one of count, sum, mean, min, max, last, distinct, recency", ErrUnknownAggregation, f.Agg))
	}
	if f.Type != nil && len(f.Type) == 0 {
		errs = append(errs, fmt.Errorf("%w: empty list (omit type to match every type)", ErrInvalidFilter))
	}
	inList := map[string]bool{}
	for _, t := range f.Type {
		switch {
		case t == "":
			errs = append(errs, fmt.Errorf("%w: empty type", ErrInvalidFilter))
		case excluded[t]:
			errs = append(errs, fmt.Errorf("%w: type %q is in exclude_types", ErrInvalidFilter, t))
		case inList[t]:
			errs = append(errs, fmt.Errorf("%w: type %q repeated", ErrInvalidFilter, t))
		}
		inList[t] = true
	}
	switch {
	case agg == aggDistinct && f.Attr == "":
		errs = append(errs, fmt.Errorf("%w: distinct needs an attr", ErrInvalidAttr))
	case ok && agg != aggDistinct && f.Attr != "":
		errs = append(errs, fmt.Errorf("%w: only distinct reads an attr", ErrInvalidAttr))
	}
	if f.Default != nil && ok {
		switch agg {
		case aggCount, aggSum, aggDistinct:
			errs = append(errs, fmt.Errorf("%w: %s is never undefined", ErrInvalidDefault, f.Agg))
		}
	}
	var k int64
	if f.Window != "" {
		w, err := parseSpan(f.Window)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%w %q: %w", ErrInvalidWindow, f.Window, err))
		case ok && agg != aggCount && agg != aggSum && agg != aggMean:
			errs = append(errs, fmt.Errorf("%w: only count, sum and mean take a window", ErrInvalidWindow))
		case w <= 0 || int64(w/time.Microsecond)%bucketUS != 0:
			errs = append(errs, fmt.Errorf("%w %q: must be a positive multiple of the bucket (%s)", ErrInvalidWindow, f.Window, time.Duration(bucketUS)*time.Microsecond))
		case int64(w/time.Microsecond)/bucketUS > maxWindowBuckets:
			errs = append(errs, fmt.Errorf("%w %q: longer than %d buckets", ErrInvalidWindow, f.Window, maxWindowBuckets))
		default:
			k = int64(w/time.Microsecond) / bucketUS
		}
	}
	return agg, k, errs
}

// validateApproximate checks a feature's approximate and precision and returns the
// HyperLogLog precision the speed layer uses for it (0: exact).
func validateApproximate(f FeatureDef, agg aggKind) (uint8, []error) {
	var errs []error
	switch {
	case f.Approximate == "":
		if f.Precision != nil {
			errs = append(errs, fmt.Errorf("%w: precision needs \"approximate\": \"hll\"", ErrInvalidApproximate))
		}
		return 0, errs
	case f.Approximate != "hll":
		errs = append(errs, fmt.Errorf("%w: unknown method %q, want \"hll\"", ErrInvalidApproximate, f.Approximate))
	case agg != aggDistinct:
		errs = append(errs, fmt.Errorf("%w: only distinct can be approximate, not %q", ErrInvalidApproximate, f.Agg))
	}
	p := defaultHLLPrecision
	if f.Precision != nil {
		p = *f.Precision
		if p < minHLLPrecision || p > maxHLLPrecision {
			errs = append(errs, fmt.Errorf("%w: precision %d, want %d to %d", ErrInvalidApproximate, p, minHLLPrecision, maxHLLPrecision))
		}
	}
	if len(errs) > 0 {
		return 0, errs
	}
	return uint8(p), nil
}

// parseSpan parses a Go duration ("90m", "24h") or a whole number of days or weeks ("7d", "2w").
func parseSpan(s string) (time.Duration, error) {
	unit := time.Duration(0)
	switch {
	case strings.HasSuffix(s, "d"):
		unit = 24 * time.Hour
	case strings.HasSuffix(s, "w"):
		unit = 7 * 24 * time.Hour
	default:
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("span %q: %w", s, err)
	}
	if n > math.MaxInt64/int64(unit) || n < math.MinInt64/int64(unit) {
		return 0, fmt.Errorf("span %q: %w", s, strconv.ErrRange)
	}
	return time.Duration(n) * unit, nil
}
