package migrations_test

import (
	"context"
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

// checkAppliesOnce migrates a fresh database twice: the first run applies every
// migration, the second none, and the status says so before and after.
func checkAppliesOnce(t *testing.T, migrate func(context.Context) (int, error), status func(context.Context) (migrations.Status, error)) {
	t.Helper()
	ctx := t.Context()
	before, err := status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Current != 0 || len(before.Pending) != before.Latest {
		t.Fatalf("fresh database: status %+v, want current 0 and all %d pending", before, before.Latest)
	}
	applied, err := migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if applied != before.Latest {
		t.Errorf("first run applied %d, want %d", applied, before.Latest)
	}
	again, err := migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again != 0 {
		t.Errorf("second run applied %d, want 0", again)
	}
	after, err := status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Current != after.Latest || len(after.Pending) != 0 {
		t.Errorf("after migrating: status %+v, want current = latest, none pending", after)
	}
}
