package features

import (
	"slices"
	"sort"
)

// bucket is one event-time bucket of a window cell: index b covers event times
// [b·width, (b+1)·width) in unix µs.
type bucket struct {
	b int64
	n uint64 // events (count cells) or values (sum cells) in the bucket; ≥ 1
	s int128 // sum of the values in micro-units (sum cells only)
}

// series is a window cell: its non-empty buckets in increasing order of b.
type series []bucket

// add folds one event (n=1, value q) into bucket b.
func (s series) add(b int64, q int64) series {
	last := len(s) - 1
	if last >= 0 && s[last].b == b {
		s[last].n++
		s[last].s = s[last].s.addInt64(q)
		return s
	}
	if last < 0 || s[last].b < b {
		return append(s, bucket{b: b, n: 1, s: int128{}.addInt64(q)})
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].b >= b })
	if s[i].b == b {
		s[i].n++
		s[i].s = s[i].s.addInt64(q)
		return s
	}
	return slices.Insert(s, i, bucket{b: b, n: 1, s: int128{}.addInt64(q)})
}

// prune drops the buckets at or below cut, in place.
func (s series) prune(cut int64) series {
	i := 0
	for i < len(s) && s[i].b <= cut {
		i++
	}
	if i == 0 {
		return s
	}
	return s[:copy(s, s[i:])]
}

// merge returns the union of two series, adding buckets present in both.
func (s series) merge(o series) series {
	if len(o) == 0 {
		return s
	}
	if len(s) == 0 {
		return slices.Clone(o)
	}
	out := make(series, 0, len(s)+len(o))
	i, j := 0, 0
	for i < len(s) && j < len(o) {
		switch {
		case s[i].b < o[j].b:
			out = append(out, s[i])
			i++
		case s[i].b > o[j].b:
			out = append(out, o[j])
			j++
		default:
			out = append(out, bucket{b: s[i].b, n: s[i].n + o[j].n, s: s[i].s.add(o[j].s)})
			i++
			j++
		}
	}
	out = append(out, s[i:]...)
	return append(out, o[j:]...)
}

// window sums the buckets in (hi-k, hi].
func (s series) window(hi, k int64) (uint64, int128) {
	var n uint64
	var sum int128
	i := sort.Search(len(s), func(i int) bool { return s[i].b > hi-k })
	for ; i < len(s) && s[i].b <= hi; i++ {
		n += s[i].n
		sum = sum.add(s[i].s)
	}
	return n, sum
}

func cloneSeries(l []series) []series {
	c := make([]series, len(l))
	for i, s := range l {
		c[i] = slices.Clone(s)
	}
	return c
}
