package demogen

import (
	"math"
	"time"
)

// RecencyCap caps the time since an entity's last event in the label rule.
const RecencyCap = 24 * time.Hour

// Activity is what the label rule sees of an entity: its counts of each event type
// so far and the time since its last non-label event.
type Activity struct {
	Views, Clicks, AddToCarts, Purchases int
	SinceLast                            time.Duration
}

// Coefficients of the label rule (see the package doc).
const (
	labelIntercept = -1.5
	labelViews     = -0.7
	labelClicks    = 0.2
	labelCarts     = 1.0
	labelPurchases = 1.0
	labelRecency   = -0.5
)

// ConversionProbability is the label rule: the probability that a label event for
// an entity with activity a has value 1.
func ConversionProbability(a Activity) float64 {
	hours := min(a.SinceLast, RecencyCap).Hours()
	x := labelIntercept +
		labelViews*math.Log1p(float64(a.Views)) +
		labelClicks*math.Log1p(float64(a.Clicks)) +
		labelCarts*math.Log1p(float64(a.AddToCarts)) +
		labelPurchases*math.Log1p(float64(a.Purchases)) +
		labelRecency*math.Log1p(max(hours, 0))
	return 1 / (1 + math.Exp(-x))
}
