package demogen

// Event types.
const (
	TypeView      = "view"
	TypeClick     = "click"
	TypeAddToCart = "add_to_cart"
	TypePurchase  = "purchase"
	TypeLabel     = "label"
)

// Attribute keys of non-label events.
const (
	AttrDevice   = "device"
	AttrCountry  = "country"
	AttrCategory = "category"
)

var (
	deviceNames = []string{"web", "ios", "android"}
	deviceDist  = newDist(0.5, 0.3, 0.2)

	countryNames = []string{"US", "IN", "DE", "GB", "BR", "FR"}
	countryDist  = newDist(0.35, 0.15, 0.15, 0.12, 0.13, 0.10)

	categoryNames = []string{"books", "electronics", "fashion", "home", "beauty", "sports",
		"toys", "grocery", "garden", "automotive", "music", "games"}
	categoryDist = newDist(0.14, 0.12, 0.13, 0.10, 0.08, 0.07, 0.07, 0.09, 0.05, 0.04, 0.05, 0.06)
	// categoryMedianPrice is the median item price of each category.
	categoryMedianPrice = []float64{15, 120, 45, 60, 25, 55, 30, 12, 40, 80, 20, 50}
)

// priceSigma is the spread of log prices around a category's median.
const priceSigma = 0.6

// dist is a discrete distribution over indices, as normalised cumulative weights.
type dist []float64

func newDist(weights ...float64) dist {
	var total float64
	for _, w := range weights {
		total += w
	}
	d := make(dist, len(weights))
	var sum float64
	for i, w := range weights {
		sum += w
		d[i] = sum / total
	}
	return d
}

// sample maps a uniform u in [0,1) to an index.
func (d dist) sample(u float64) int {
	for i, c := range d {
		if u < c {
			return i
		}
	}
	return len(d) - 1
}
