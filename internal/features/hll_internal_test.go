package features

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHLLDivergence measures the sketch at the default precision against the exact
// count on 100k entities with log-uniform cardinalities, 75% of them small enough to
// stay sparse and the rest dense, and checks the bound the package doc states. The
// values' hashes are drawn from a PRNG: uniform 64-bit hashes, as xxhash64 gives, and
// distinct (a 64-bit collision among ≤ 20k values has probability below 1e-11), so
// the exact distinct count is the number of values.
func TestHLLDivergence(t *testing.T) {
	const (
		entities = 100_000
		p        = defaultHLLPrecision
	)
	sigma := 1.04 / math.Sqrt(1<<p)
	r := rand.New(rand.NewPCG(12, 12))
	var sparse, dense []float64 // relative errors
	var sparseAbs float64       // greatest |estimate − exact| of a sparse sketch
	x := hll{p: p}
	for i := range entities {
		// Which representation a sketch has depends only on its values, so a sketch
		// of more than 2^p/4 values, which is dense (the 2^25 sparse registers of
		// ≥ 1100 values would need ≥ 76 collisions to stay sparse), starts dense here,
		// skipping the sparse inserts on the way.
		n := logUniform(r, 1, 1000)
		x.sparse, x.dense = x.sparse[:0], nil
		if i%4 == 3 {
			n = logUniform(r, 1100, 20000)
			x.dense = make([]uint8, 1<<p)
		}
		for range n {
			x.add(r.Uint64())
		}
		est := x.estimate()
		rel := math.Abs(est-float64(n)) / float64(n)
		if x.dense == nil {
			sparse = append(sparse, rel)
			sparseAbs = max(sparseAbs, math.Abs(est-float64(n)))
		} else {
			dense = append(dense, rel)
		}
	}
	s, d := summarise(sparse), summarise(dense)
	t.Logf("p=%d σ=%.3f%%: sparse %d entities mean %.5f%% p50 %.5f%% p99 %.5f%% max %.5f%% (max |error| %.3f)",
		p, 100*sigma, len(sparse), 100*s.mean, 100*s.p50, 100*s.p99, 100*s.max, sparseAbs)
	beyond3 := len(dense) - slices.IndexFunc(d.sorted, func(e float64) bool { return e > 3*sigma })
	if beyond3 > len(dense) {
		beyond3 = 0
	}
	beyond5 := len(dense) - slices.IndexFunc(d.sorted, func(e float64) bool { return e > 5*sigma })
	if beyond5 > len(dense) {
		beyond5 = 0
	}
	t.Logf("dense %d entities mean %.3f%% p50 %.3f%% p99 %.3f%% max %.3f%%; beyond 3σ %d (%.2f%%), beyond 5σ %d",
		len(dense), 100*d.mean, 100*d.p50, 100*d.p99, 100*d.max, beyond3, 100*float64(beyond3)/float64(len(dense)), beyond5)
	if len(sparse) < 70_000 || len(dense) < 20_000 {
		t.Fatalf("%d sparse and %d dense entities, want both kinds", len(sparse), len(dense))
	}
	if sparseAbs > 2 {
		t.Errorf("a sparse sketch is off by %.3f, bound 2", sparseAbs)
	}
	if d.mean > sigma {
		t.Errorf("dense mean relative error %.3f%% > σ", 100*d.mean)
	}
	if float64(beyond3) > 0.01*float64(len(dense)) {
		t.Errorf("%d dense sketches beyond 3σ, bound 1%%", beyond3)
	}
	if beyond5 > 0 {
		t.Errorf("%d dense sketches beyond 5σ", beyond5)
	}
}

func logUniform(r *rand.Rand, lo, hi int) int {
	return int(math.Round(math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo))))))
}

type errSummary struct {
	sorted              []float64
	mean, p50, p99, max float64
}

func summarise(errs []float64) errSummary {
	s := errSummary{sorted: slices.Sorted(slices.Values(errs))}
	if len(errs) == 0 {
		return s
	}
	for _, e := range errs {
		s.mean += e
	}
	s.mean /= float64(len(errs))
	at := func(q float64) float64 { return s.sorted[min(len(errs)-1, int(q*float64(len(errs))))] }
	s.p50, s.p99, s.max = at(0.5), at(0.99), s.sorted[len(errs)-1]
	return s
}
