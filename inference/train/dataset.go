package train

import (
	"errors"
	"fmt"
	"iter"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

// ErrInvalidLabel: a label event without a value of 0 or 1.
var ErrInvalidLabel = errors.New("invalid label")

// Dataset is a labelled training set: model input rows in label time order with their 0/1
// labels.
type Dataset struct {
	Features []string
	X        []float32 // Len rows of len(Features) values, one after the other
	Y        []float32
}

// Len returns the number of rows.
func (d Dataset) Len() int { return len(d.Y) }

// Width returns the number of features per row.
func (d Dataset) Width() int { return len(d.Features) }

// Row returns row i, sharing memory with X.
func (d Dataset) Row(i int) []float32 { return d.X[i*d.Width() : (i+1)*d.Width()] }

// Positives returns the number of rows labelled 1.
func (d Dataset) Positives() int {
	var n int
	for _, y := range d.Y {
		n += int(y)
	}
	return n
}

// Split returns the first rows as the training set and the newest fraction as the holdout.
func (d Dataset) Split(holdout float64) (train, test Dataset) {
	cut := d.Len() - int(float64(d.Len())*holdout)
	w := d.Width()
	train = Dataset{Features: d.Features, X: d.X[:cut*w], Y: d.Y[:cut]}
	test = Dataset{Features: d.Features, X: d.X[cut*w:], Y: d.Y[cut:]}
	return train, test
}

// Collect folds events, in arrival order, per entity with spec and turns every event of
// type labelType into a row: the entity's vector as of the label's ts, taken before the
// label itself is folded, with the label's value (0 or 1) as target. Label events are then
// folded like any other event, so a spec that does not exclude them sees them as serving
// would.
func Collect(spec *features.Spec, labelType string, events iter.Seq[event.Event]) (Dataset, error) {
	d := Dataset{Features: spec.FeatureNames()}
	folders := map[string]*features.Folder{}
	empty := spec.NewState()
	for e := range events {
		f := folders[e.EntityID]
		if f == nil {
			f = features.NewFolder(spec)
			folders[e.EntityID] = f
		}
		if e.Type == labelType {
			if e.Value == nil || (*e.Value != 0 && *e.Value != 1) {
				return Dataset{}, fmt.Errorf("event %s of %s: %w: want value 0 or 1", e.EventID, e.EntityID, ErrInvalidLabel)
			}
			st := f.States()[e.EntityID] // one entity per Folder: a one-entry map
			if st == nil {
				st = empty
			}
			d.X = st.AppendVector(d.X, e.TS)
			d.Y = append(d.Y, float32(*e.Value))
		}
		f.Add(e)
	}
	return d, nil
}

// DefaultDemoEvents is the number of demo events `lambda model train` learns from by
// default: about 10000 labels with demogen's default 1% label fraction.
const DefaultDemoEvents = 1000000

// Demo generates n demo events with cfg and collects them with spec, the demo's label
// events as targets.
func Demo(spec *features.Spec, cfg demogen.Config, n int) (Dataset, error) {
	g := demogen.New(cfg)
	return Collect(spec, demogen.TypeLabel, func(yield func(event.Event) bool) {
		for range n {
			if !yield(g.Next()) {
				return
			}
		}
	})
}
