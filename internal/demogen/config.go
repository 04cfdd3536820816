package demogen

import "time"

// Config shapes a generated stream; zero fields take the defaults below.
type Config struct {
	// Entities is the number of distinct entities (default 10000).
	Entities int
	// Seed makes the stream reproducible: the same Config gives the same events.
	Seed int64
	// Start is the event time of the first event (default 2026-01-01T00:00:00Z).
	Start time.Time
	// EventsPerSecond is the event-time pace: simulated time advances by
	// 1/EventsPerSecond per event on average (default 100).
	EventsPerSecond float64
	// LateFraction of non-label events arrive late (default 0.02; negative: none).
	LateFraction float64
	// MaxLateness bounds how far back a late event's time goes (default 1h).
	MaxLateness time.Duration
	// LabelFraction of events are labels (default 0.01; negative: none).
	LabelFraction float64
	// ActivitySkew shapes the Zipf-like activity: the top fraction p of entities
	// produce a share p^(1/ActivitySkew) of the events (default 4.4: the top 1%
	// about 35%). 1 makes activity uniform.
	ActivitySkew float64
}

// Defaults.
const (
	DefaultEntities        = 10000
	DefaultEventsPerSecond = 100
	DefaultLateFraction    = 0.02
	DefaultMaxLateness     = time.Hour
	DefaultLabelFraction   = 0.01
	DefaultActivitySkew    = 4.4
)

// DefaultStart is the default event time of the first event.
var DefaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// withDefaults fills zero fields and normalises the rest.
func (c Config) withDefaults() Config {
	if c.Entities <= 0 {
		c.Entities = DefaultEntities
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	c.Start = c.Start.UTC()
	if c.EventsPerSecond <= 0 {
		c.EventsPerSecond = DefaultEventsPerSecond
	}
	c.LateFraction = fraction(c.LateFraction, DefaultLateFraction)
	if c.MaxLateness <= 0 {
		c.MaxLateness = DefaultMaxLateness
	}
	c.LabelFraction = fraction(c.LabelFraction, DefaultLabelFraction)
	if c.ActivitySkew < 1 {
		c.ActivitySkew = DefaultActivitySkew
	}
	return c
}

// fraction maps 0 to def and negatives to 0.
func fraction(f, def float64) float64 {
	switch {
	case f == 0:
		return def
	case f < 0:
		return 0
	}
	return f
}
