package registry_test

import (
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// FuzzCheckName: a name CheckName accepts is one local path element that needs no
// escaping in a URL and holds no quote, NUL or control byte; every other one fails with
// ErrInvalidName. The seeds (run by go test) are the hostile ids.
func FuzzCheckName(f *testing.F) {
	for _, s := range append([]string{"demo", "churn-v2.1", "a_b"}, testenv.HostileIDs...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := registry.CheckName(name)
		if err != nil {
			if !errors.Is(err, registry.ErrInvalidName) {
				t.Fatalf("%q: %v does not wrap ErrInvalidName", name, err)
			}
			return
		}
		switch {
		case len(name) == 0 || len(name) > 100:
			t.Fatalf("%q accepted: %d bytes", name, len(name))
		case !filepath.IsLocal(name) || filepath.Base(name) != name || name == "." || name == "..":
			t.Fatalf("%q accepted: not one local path element", name)
		case strings.HasPrefix(name, "."):
			t.Fatalf("%q accepted: a hidden file name", name)
		case url.PathEscape(name) != name:
			t.Fatalf("%q accepted: needs escaping in a URL path", name)
		case strings.ContainsAny(name, "'\"`\\;/ \x00"):
			t.Fatalf("%q accepted: holds a quote, separator or NUL", name)
		case strings.Contains(name, testenv.HostileMarker):
			t.Fatalf("%q accepted: a hostile seed", name)
		}
	})
}
