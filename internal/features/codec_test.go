package features_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/lambda-platform/lambda/internal/features"
)

func TestDecodeErrors(t *testing.T) {
	spec := fullSpec(t)
	good := encode(t, randomState(rand.New(rand.NewPCG(7, 7)), spec))
	other := encode(t, features.DefaultSpec().NewState())
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, features.ErrCorruptState},
		{"version", append([]byte{9}, good[1:]...), features.ErrStateVersion},
		{"other spec", other, features.ErrSpecMismatch},
		{"truncated", good[:len(good)-1], features.ErrCorruptState},
		{"trailing", append(bytes.Clone(good), 0), features.ErrCorruptState},
		{"bad flag", append(bytes.Clone(good[:5]), 2), features.ErrCorruptState},
	} {
		if _, err := spec.Decode(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestMergeSpecMismatch(t *testing.T) {
	if err := features.DefaultSpec().NewState().Merge(fullSpec(t).NewState()); !errors.Is(err, features.ErrSpecMismatch) {
		t.Errorf("err = %v", err)
	}
}

func TestEmptyStateEncoding(t *testing.T) {
	spec := features.DefaultSpec()
	b := encode(t, spec.NewState())
	if len(b) != 6 {
		t.Errorf("identity encodes to %d bytes, want 6", len(b))
	}
	st, err := spec.Decode(b)
	if err != nil || !st.IsEmpty() {
		t.Errorf("decode identity: %v", err)
	}
}
