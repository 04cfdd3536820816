package features

import (
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"time"
)

// aggKind is a feature's aggregation.
type aggKind uint8

const (
	aggCount aggKind = iota + 1
	aggSum
	aggMean
	aggMin
	aggMax
	aggLast
	aggDistinct
	aggRecency
)

var aggByName = map[string]aggKind{
	"count":    aggCount,
	"sum":      aggSum,
	"mean":     aggMean,
	"min":      aggMin,
	"max":      aggMax,
	"last":     aggLast,
	"distinct": aggDistinct,
	"recency":  aggRecency,
}

// class is the kind of monoid cell a feature reads. Features with the same class,
// type filter and attr share one cell (sum and mean share a sum cell; windowed
// features with the same filter share one bucket series sized for the longest window).
type class uint8

const (
	clsCount class = iota
	clsSum
	clsMin
	clsMax
	clsLast
	clsDistinct
	clsRecency
	clsWCount
	clsWSum
	clsHLL // an approximate distinct, in the speed variant of a spec only
	numClasses
)

var classNames = [numClasses]string{"count", "sum", "min", "max", "last", "distinct", "recency", "wcount", "wsum", "hll"}

// cellDef describes one cell of the state layout.
type cellDef struct {
	types []string // sorted type filter; nil = every non-excluded type
	attr  string   // distinct and hll cells only
	k     int64    // window cells only: buckets kept (the longest window using the cell)
	p     uint8    // hll cells only: the precision
}

// feature is one compiled FeatureDef.
type feature struct {
	agg  aggKind
	cls  class
	cell int   // index into the class's cells
	k    int64 // window length in buckets; 0 = unwindowed
	def  float64
}

// typeRefs lists the cells an event of one type updates, per class.
type typeRefs struct {
	cells  [numClasses][]int
	values bool // some cell reads the value
	attrs  bool // some distinct cell reads an attr
}

// Spec is a compiled, validated feature spec. It is immutable and safe for
// concurrent use; both layers must fold and merge with specs of equal Fingerprint.
type Spec struct {
	bucketUS     int64
	names        []string
	features     []feature
	cells        [numClasses][]cellDef
	excluded     []string
	types        []string   // filter types; type index i+1 (0 = any other type)
	refs         []typeRefs // by type index
	attrs        []string   // attr names read by distinct cells
	distinctAttr []int      // distinct cell -> index into attrs
	hllAttr      []int      // hll cell -> index into attrs
	fingerprint  uint32
	// speed is the variant the speed layer folds with (the spec itself when no
	// feature is approximate); approx lists the features it approximates.
	speed  *Spec
	approx []int
	// fromExact maps, in a speed variant, each distinct and hll cell to the distinct
	// cell of the exact spec it is built from (ToSpeed).
	fromExact [numClasses][]int
}

// FeatureNames returns the feature names in vector order.
func (s *Spec) FeatureNames() []string { return slices.Clone(s.names) }

// Len returns the number of features (the vector length).
func (s *Spec) Len() int { return len(s.features) }

// Bucket returns the width of the event-time buckets windows are kept in.
func (s *Spec) Bucket() time.Duration { return time.Duration(s.bucketUS) * time.Microsecond }

// Fingerprint identifies the state layout: the bucket width, excluded types and every
// cell (class, type filter, attr, window length), but not feature names, order of
// output columns or defaults. States are only decoded and merged under an equal
// fingerprint; persist it next to states to detect a spec change.
func (s *Spec) Fingerprint() uint32 { return s.fingerprint }

// Compile validates d and builds the Spec; all problems are reported at once,
// each wrapping one of the ErrInvalid… sentinels.
func Compile(d Definition) (*Spec, error) {
	c, err := validate(d)
	if err != nil {
		return nil, err
	}
	s := build(d, c, false)
	s.speed = s
	for i, p := range c.hllP {
		if p > 0 {
			s.approx = append(s.approx, i)
		}
	}
	if len(s.approx) > 0 {
		sp := build(d, c, true)
		sp.speed, sp.approx = sp, s.approx
		for _, cls := range []class{clsDistinct, clsHLL} {
			for _, def := range sp.cells[cls] {
				i := slices.IndexFunc(s.cells[clsDistinct], func(e cellDef) bool {
					return slices.Equal(e.types, def.types) && e.attr == def.attr
				})
				sp.fromExact[cls] = append(sp.fromExact[cls], i)
			}
		}
		s.speed = sp
	}
	return s, nil
}

// Speed returns the variant of the spec the speed layer folds with: approximate
// features keep a sketch instead of their exact set (see FeatureDef.Approximate).
// It is the spec itself when no feature is approximate. Its vectors have the same
// features in the same order; its states have another Fingerprint.
func (s *Spec) Speed() *Spec { return s.speed }

// Approximate returns the vector positions of the features Speed approximates.
func (s *Spec) Approximate() []int { return slices.Clone(s.approx) }

// build compiles a validated definition, the speed variant when speed is set.
func build(d Definition, c checked, speed bool) *Spec {
	s := &Spec{bucketUS: c.bucketUS, excluded: c.excluded}
	typeSet := map[string]bool{}
	for i, fd := range d.Features {
		f := feature{agg: c.aggs[i], k: c.windows[i]}
		if fd.Default != nil {
			f.def = *fd.Default
		}
		types := sortedUnique(fd.Type)
		for _, t := range types {
			typeSet[t] = true
		}
		f.cls = classOf(f.agg, f.k > 0)
		def := cellDef{types: types, attr: fd.Attr, k: f.k}
		if speed && c.hllP[i] > 0 {
			f.cls, def.p = clsHLL, c.hllP[i]
		}
		f.cell = s.cell(f.cls, def)
		s.names = append(s.names, fd.Name)
		s.features = append(s.features, f)
	}
	for t := range typeSet {
		s.types = append(s.types, t)
	}
	slices.Sort(s.types)
	s.buildRefs()
	s.fingerprint = crc32.ChecksumIEEE([]byte(s.layout()))
	return s
}

func classOf(a aggKind, windowed bool) class {
	switch a {
	case aggCount:
		if windowed {
			return clsWCount
		}
		return clsCount
	case aggSum, aggMean:
		if windowed {
			return clsWSum
		}
		return clsSum
	case aggMin:
		return clsMin
	case aggMax:
		return clsMax
	case aggLast:
		return clsLast
	case aggDistinct:
		return clsDistinct
	default:
		return clsRecency
	}
}

// cell returns the index of the cell for def in class c, adding it when new.
func (s *Spec) cell(c class, def cellDef) int {
	for i, have := range s.cells[c] {
		if slices.Equal(have.types, def.types) && have.attr == def.attr && have.p == def.p {
			s.cells[c][i].k = max(have.k, def.k)
			return i
		}
	}
	s.cells[c] = append(s.cells[c], def)
	return len(s.cells[c]) - 1
}

func (s *Spec) buildRefs() {
	s.refs = make([]typeRefs, len(s.types)+1)
	for t := range s.refs {
		r := &s.refs[t]
		for c := range numClasses {
			for i, def := range s.cells[c] {
				if def.types != nil && (t == 0 || !slices.Contains(def.types, s.types[t-1])) {
					continue
				}
				r.cells[c] = append(r.cells[c], i)
				switch c {
				case clsSum, clsMin, clsMax, clsLast, clsWSum:
					r.values = true
				case clsDistinct, clsHLL:
					r.attrs = true
				}
			}
		}
	}
	s.distinctAttr = s.attrIndexes(clsDistinct)
	s.hllAttr = s.attrIndexes(clsHLL)
}

// attrIndexes returns, for each cell of class c, the index of its attr in s.attrs,
// adding the attrs not there yet.
func (s *Spec) attrIndexes(c class) []int {
	var out []int
	for _, def := range s.cells[c] {
		i := slices.Index(s.attrs, def.attr)
		if i < 0 {
			i = len(s.attrs)
			s.attrs = append(s.attrs, def.attr)
		}
		out = append(out, i)
	}
	return out
}

// layout is the canonical text the fingerprint is computed from.
func (s *Spec) layout() string {
	var b strings.Builder
	fmt.Fprintf(&b, "v%d bucket=%d exclude=%s", stateVersion, s.bucketUS, strings.Join(sortedUnique(s.excluded), ","))
	for c := range numClasses {
		for _, def := range s.cells[c] {
			fmt.Fprintf(&b, ";%s[%s]attr=%q k=%d", classNames[c], strings.Join(def.types, ","), def.attr, def.k)
			if c == clsHLL {
				fmt.Fprintf(&b, " p=%d", def.p)
			}
		}
	}
	return b.String()
}

// typeIndex maps an event type to its index in refs, or -1 when the type is excluded.
func (s *Spec) typeIndex(t string) int {
	for _, x := range s.excluded {
		if x == t {
			return -1
		}
	}
	for i, x := range s.types {
		if x == t {
			return i + 1
		}
	}
	return 0
}

func sortedUnique(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	l = slices.Clone(l)
	slices.Sort(l)
	return slices.Compact(l)
}
