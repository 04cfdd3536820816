package demogen

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
)

// Generator yields a deterministic stream of demo events; see the package doc.
// It is not safe for concurrent use.
type Generator struct {
	cfg      Config
	rng      *rand.Rand
	entities []entity
	byRank   []int32 // entity index of each activity rank
	idPrefix string
	seq      uint64
	clockNS  int64   // on-time event clock, nanoseconds since cfg.Start
	gapNS    float64 // mean clock advance per event
}

// New returns a generator for cfg, with defaults filled in.
func New(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15))
	g := &Generator{
		cfg:      cfg,
		rng:      rng,
		entities: make([]entity, cfg.Entities),
		byRank:   make([]int32, cfg.Entities),
		idPrefix: "evt-" + strconv.FormatUint(uint64(cfg.Seed), 36) + "-",
		gapNS:    float64(time.Second) / cfg.EventsPerSecond,
	}
	for i := range g.entities {
		g.entities[i] = newEntity(i, rng)
		g.byRank[i] = int32(i)
	}
	rng.Shuffle(len(g.byRank), func(i, j int) { g.byRank[i], g.byRank[j] = g.byRank[j], g.byRank[i] })
	return g
}

// Config returns the configuration in use, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Next returns the next event. Its Attrs map is its own.
func (g *Generator) Next() event.Event {
	g.seq++
	g.clockNS += int64(g.rng.ExpFloat64() * g.gapNS)
	ent := &g.entities[g.byRank[g.rank()]]
	var id [64]byte
	e := event.Event{
		EventID:  string(strconv.AppendUint(append(id[:0], g.idPrefix...), g.seq, 10)),
		EntityID: ent.id,
		TS:       g.cfg.Start.Add(time.Duration(g.clockNS)),
	}
	if g.rng.Float64() < g.cfg.LabelFraction {
		e.Type = TypeLabel
		e.Value = g.label(ent)
		return e
	}
	e.Type = ent.nextType(g.rng.Float64(), g.clockNS)
	device := int(ent.device)
	if g.rng.Float64() < 0.1 {
		device = deviceDist.sample(g.rng.Float64())
	}
	cat := int(ent.category)
	if g.rng.Float64() < 0.5 {
		cat = categoryDist.sample(g.rng.Float64())
	}
	e.Attrs = map[string]string{
		AttrDevice:   deviceNames[device],
		AttrCountry:  countryNames[ent.country],
		AttrCategory: categoryNames[cat],
	}
	if e.Type == TypeAddToCart || e.Type == TypePurchase {
		price := categoryMedianPrice[cat] * math.Exp(priceSigma*g.rng.NormFloat64())
		price = max(math.Round(price*100)/100, 0.01)
		e.Value = &price
	}
	if g.rng.Float64() < g.cfg.LateFraction {
		e.TS = e.TS.Add(-time.Duration(g.rng.Int64N(int64(g.cfg.MaxLateness)) + 1))
	}
	return e
}

// rank draws an activity rank, 0 the most active.
func (g *Generator) rank() int {
	r := int(float64(len(g.byRank)) * math.Pow(g.rng.Float64(), g.cfg.ActivitySkew))
	return min(r, len(g.byRank)-1)
}

// label draws the value of a label event for ent from its activity so far.
func (g *Generator) label(ent *entity) *float64 {
	a := ent.activity
	a.SinceLast = RecencyCap
	if ent.seen {
		a.SinceLast = time.Duration(g.clockNS - ent.lastNS)
	}
	v := 0.0
	if g.rng.Float64() < ConversionProbability(a) {
		v = 1
	}
	return &v
}
