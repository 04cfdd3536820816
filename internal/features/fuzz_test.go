package features_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/features"
)

// FuzzDecodeState feeds arbitrary bytes to Decode: it must never panic, and whatever
// it accepts must be a usable state that re-encodes to the same bytes.
func FuzzDecodeState(f *testing.F) {
	fuzzDecode(f, fullSpec(f))
}

func fuzzDecode(f *testing.F, spec *features.Spec) {
	for seed := range uint64(20) {
		f.Add(encode(f, randomState(rand.New(rand.NewPCG(seed, 5)), spec)))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := spec.Decode(b)
		if err != nil {
			return
		}
		if got := encode(t, st); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, got)
		}
		m := st.Clone()
		if err := m.Merge(st); err != nil {
			t.Fatal(err)
		}
		newest, _ := st.Newest()
		_ = m.Vector(newest.Add(time.Hour))
	})
}
