package migrations_test

import (
	"slices"
	"testing"

	"github.com/lambda-platform/lambda/migrations"
)

func TestLoadEmbedded(t *testing.T) {
	for _, dir := range []string{"postgres", "clickhouse"} {
		ms, err := migrations.Load(dir)
		if err != nil {
			t.Fatalf("load %s: %v", dir, err)
		}
		if len(ms) == 0 {
			t.Fatalf("%s: no migrations embedded", dir)
		}
		for i, m := range ms {
			if m.Version != i+1 {
				t.Errorf("%s: migration %d has version %d, want %d (no gaps)", dir, i, m.Version, i+1)
			}
		}
	}
}

func TestStatements(t *testing.T) {
	script := `-- header comment that ends in a semicolon;
CREATE TABLE a (x String);

-- between
CREATE TABLE b (
    s String DEFAULT 'a;b' -- inline
);
SELECT 1;  
SELECT 2`
	got := migrations.Statements(script)
	want := []string{
		"CREATE TABLE a (x String)",
		"CREATE TABLE b (\n    s String DEFAULT 'a;b' -- inline\n)",
		"SELECT 1",
		"SELECT 2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Statements:\n got %q\nwant %q", got, want)
	}
}
