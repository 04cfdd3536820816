// Package demogen generates realistic, deterministic demo events: the stream that
// `lambda produce`, the tests and the benchmarks feed through the platform.
//
// Given the same Config (Seed included) a Generator yields the same events.
//
// # Entities and activity
//
// Config.Entities users, "user-000000" onwards, with Zipf-like skewed activity:
// the entity of each event has activity rank r = floor(N·u^ActivitySkew) for a
// uniform u, so P(rank ≤ r) = (r/N)^(1/ActivitySkew), a power law in which (by
// default) the top 1% of entities produce about 35% of the events, the top 10%
// about 60% and the bottom half about 15%.
// Ranks map to entities through a seeded permutation. Each entity has a fixed home
// country and main device (10% of its events come from another device), and a
// favourite category (half of its events).
//
// # Event types
//
// view, click, add_to_cart and purchase, in about 70:20:7:3 for an average
// entity. Each entity has a hidden propensity z ~ N(0,1) that scales its click,
// add_to_cart and purchase weights by e^(0.4z), e^(0.9z) and e^(1.1z). add_to_cart
// and purchase carry value = price, log-normal around the category's median price
// (rounded to cents); views and clicks carry no value. Every non-label event has
// attrs device, country and category.
//
// # Time
//
// A simulated clock starts at Config.Start and advances by an exponential gap of
// mean 1/EventsPerSecond per event, so event time never goes back. A fraction
// LateFraction of the non-label events arrive late: their ts is the clock minus a
// uniform lateness in (0, MaxLateness], so consumers see out-of-order events.
//
// # Labels
//
// A fraction LabelFraction of the events are of type label for an entity drawn like
// any other (label events are never late and carry no attrs), with value 1 if the
// entity "converted" and 0 if not, drawn with probability ConversionProbability of
// its observable activity at that point: its counts of views, clicks, add_to_cart and
// purchases among the events generated before the label, and the time since its
// last one of those (capped at RecencyCap; an entity with none counts as RecencyCap):
//
//	x = -1.5 - 0.7·ln(1+views) + 0.2·ln(1+clicks) + 1.0·ln(1+add_to_cart)
//	         + 1.0·ln(1+purchases) - 0.5·ln(1+hours since last)
//	P(label = 1) = 1 / (1 + e^-x)
//
// The rule is a logistic regression on log1p of per-entity aggregates, so a model
// trained on those features can learn it; the hidden propensity reaches the label
// only through the behaviour it shapes.
package demogen
