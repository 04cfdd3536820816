package demogen

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Base event-type weights of an average entity, and how strongly the hidden
// propensity scales each (weight · e^(k·z)).
const (
	baseView, baseClick, baseCart, basePurchase = 0.70, 0.20, 0.07, 0.03
	clickLift, cartLift, purchaseLift           = 0.4, 0.9, 1.1
)

// entity is one simulated user: fixed traits, hidden propensity, and the
// observable activity the label rule reads.
type entity struct {
	id       string
	country  uint8
	device   uint8
	category uint8
	// typeCum holds the cumulative probabilities of view, click and add_to_cart;
	// purchase takes the rest.
	typeCum [3]float64

	activity Activity
	lastNS   int64 // clock of the latest non-label event
	seen     bool  // whether it had a non-label event
}

func newEntity(i int, rng *rand.Rand) entity {
	z := rng.NormFloat64()
	w := [4]float64{
		baseView,
		baseClick * math.Exp(clickLift*z),
		baseCart * math.Exp(cartLift*z),
		basePurchase * math.Exp(purchaseLift*z),
	}
	total := w[0] + w[1] + w[2] + w[3]
	return entity{
		id:       fmt.Sprintf("user-%06d", i),
		country:  uint8(countryDist.sample(rng.Float64())),
		device:   uint8(deviceDist.sample(rng.Float64())),
		category: uint8(categoryDist.sample(rng.Float64())),
		typeCum:  [3]float64{w[0] / total, (w[0] + w[1]) / total, (w[0] + w[1] + w[2]) / total},
	}
}

// nextType draws an event type from the entity's weights and counts it.
func (e *entity) nextType(u float64, clockNS int64) string {
	e.seen, e.lastNS = true, clockNS
	switch {
	case u < e.typeCum[0]:
		e.activity.Views++
		return TypeView
	case u < e.typeCum[1]:
		e.activity.Clicks++
		return TypeClick
	case u < e.typeCum[2]:
		e.activity.AddToCarts++
		return TypeAddToCart
	}
	e.activity.Purchases++
	return TypePurchase
}
