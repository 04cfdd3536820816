package master_test

import (
	"errors"
	"testing"

	"github.com/lambda-platform/lambda/internal/master"
)

func TestParseShard(t *testing.T) {
	for _, text := range []string{"0/1", "0/4", "3/4"} {
		if s, err := master.ParseShard(text); err != nil || s.String() != text {
			t.Errorf("ParseShard(%q) = %v, %v", text, s, err)
		}
	}
	for _, text := range []string{"", "4", "4/4", "-1/4", "0/0", "a/b", "1/2/3"} {
		if _, err := master.ParseShard(text); !errors.Is(err, master.ErrInvalidShard) {
			t.Errorf("ParseShard(%q): %v, want ErrInvalidShard", text, err)
		}
	}
}
