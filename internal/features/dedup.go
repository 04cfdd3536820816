package features

import "hash/maphash"

// idSet is the set of event ids one entity has folded in one fold input: an
// open-addressing hash table (maphash: in memory only, so a per-set random seed) whose keys live in one byte arena, so inserting does
// not allocate per event and lookups compare the ids exactly. reset empties it in
// O(1) by moving to a new generation.
type idSet struct {
	slots []idSlot
	used  int
	gen   uint32
	seed  maphash.Seed
	arena []byte
}

type idSlot struct {
	h   uint64
	off int
	n   uint32
	gen uint32 // occupied when equal to the set's gen
}

const idSetMinSlots = 16

// insert adds id and reports whether it was absent.
func (s *idSet) insert(id string) bool {
	if s.gen == 0 {
		s.gen = 1
	}
	if (s.used+1)*4 > len(s.slots)*3 {
		s.grow()
	}
	h := maphash.String(s.seed, id)
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.gen != s.gen {
			s.arena = append(s.arena, id...)
			*sl = idSlot{h: h, off: len(s.arena) - len(id), n: uint32(len(id)), gen: s.gen}
			s.used++
			return true
		}
		if sl.h == h && int(sl.n) == len(id) && string(s.arena[sl.off:sl.off+len(id)]) == id {
			return false
		}
	}
}

// reset empties the set, keeping its memory.
func (s *idSet) reset() {
	s.used, s.arena = 0, s.arena[:0]
	s.gen++
	if s.gen == 0 {
		clear(s.slots)
		s.gen = 1
	}
}

func (s *idSet) grow() {
	old := s.slots
	if old == nil {
		s.seed = maphash.MakeSeed()
	}
	s.slots = make([]idSlot, max(idSetMinSlots, 2*len(old)))
	mask := uint64(len(s.slots) - 1)
	for _, sl := range old {
		if sl.gen != s.gen {
			continue
		}
		i := sl.h & mask
		for s.slots[i].gen == s.gen {
			i = (i + 1) & mask
		}
		s.slots[i] = sl
	}
}
