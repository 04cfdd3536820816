package migrations_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/migrations"
)

func TestPostgresAppliesOnce(t *testing.T) {
	pool, _ := testenv.EmptyPostgres(t)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	checkAppliesOnce(t,
		func(ctx context.Context) (int, error) { return migrations.Postgres(ctx, pool, log) },
		func(ctx context.Context) (migrations.Status, error) { return migrations.PostgresStatus(ctx, pool) })
}

func TestPostgresConcurrentMigrators(t *testing.T) {
	pool, url := testenv.EmptyPostgres(t)
	ctx := t.Context()
	other, err := store.OpenPostgres(ctx, url) // a second pool: its own sessions, like another process
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))

	var wg sync.WaitGroup
	applied := make([]int, 2)
	errs := make([]error, 2)
	for i, p := range []*pgxpool.Pool{pool, other} {
		wg.Go(func() { applied[i], errs[i] = migrations.Postgres(ctx, p, log) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent migrate: %v", err)
	}

	latest, err := migrations.Load("postgres")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(applied)
	if !slices.Equal(applied, []int{0, len(latest)}) {
		t.Errorf("applied %v, want one migrator to apply all %d and the other none", applied, len(latest))
	}
	var recorded int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if recorded != len(latest) {
		t.Errorf("schema_migrations has %d rows, want %d", recorded, len(latest))
	}
}

func TestPostgresTables(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	const tstz = "timestamp with time zone"
	want := map[string][]string{
		"schema_migrations": {"version integer", "name text", "applied_at " + tstz},
		"batch_runs": {
			"id bigint", "status text", "trigger text", "requested_by text",
			"created_at " + tstz, "started_at " + tstz, "finished_at " + tstz, "published_at " + tstz,
			"cutoff_offsets bigint[]", "cutoff_event_time " + tstz,
			"events_read bigint", "entities_scored bigint", "rows_written bigint",
			"model_name text", "model_version integer", "error text",
			"expired_at " + tstz, "cutoff_imported_offset bigint",
			"cpu_seconds double precision", "peak_heap_bytes bigint", "bytes_read bigint", "bytes_stored bigint",
		},
		"batch_run_shards": {
			"run_id bigint", "shard integer", "of integer", "status text", "worker text",
			"started_at " + tstz, "finished_at " + tstz, "events_read bigint", "entities_scored bigint",
			"rows_written bigint", "cpu_seconds double precision", "peak_heap_bytes bigint", "bytes_read bigint",
			"error text",
		},
		"kappa_replays": {
			"id bigint", "status text", "switch_when_ready boolean", "model_name text", "model_version bigint",
			"spec text", "requested_by text", "created_at " + tstz, "ready_at " + tstz, "switched_at " + tstz,
			"retired_at " + tstz, "dropped_at " + tstz, "offsets_total bigint", "offsets_done bigint",
			"events_per_second double precision", "error text",
			"cpu_seconds double precision", "peak_heap_bytes bigint", "bytes_read bigint", "events_read bigint", "rows_written bigint",
			"covered bigint[]",
		},
		"speed_view": {
			"entity_id text", "base_run_id bigint", "kafka_partition integer", "covered_offset bigint",
			"last_event_at " + tstz, "as_of " + tstz, "delta_state bytea", "vector real[]", "score real",
			"model_name text", "model_version integer", "updated_at " + tstz,
		},
		"models": {"name text", "description text", "created_at " + tstz, "active_version integer"},
		"model_versions": {
			"model_name text", "version integer", "feature_names text[]", "input_width integer",
			"status text", "created_at " + tstz,
		},
		"model_artifacts": {
			"model_name text", "version integer", "variant text", "sha256 text", "size_bytes bigint",
			"onnx bytea", "created_at " + tstz,
		},
	}
	for table, cols := range want {
		rows, err := pool.Query(t.Context(), `
SELECT attname || ' ' || format_type(atttypid, atttypmod)
FROM pg_attribute
WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped
ORDER BY attnum`, table)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			got = append(got, c)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, cols) {
			t.Errorf("table %s columns:\n got %q\nwant %q", table, got, cols)
		}
	}
}

func TestBatchRunsOneRunning(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	insert := "INSERT INTO batch_runs (trigger, requested_by) VALUES ('cli', 'test') RETURNING id"

	var first int64
	if err := pool.QueryRow(ctx, insert).Scan(&first); err != nil {
		t.Fatal(err)
	}
	var second int64
	err := pool.QueryRow(ctx, insert).Scan(&second)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" || pgErr.ConstraintName != "batch_runs_one_running" {
		t.Fatalf("second running run: err %v, want a unique violation of batch_runs_one_running", err)
	}

	if _, err := pool.Exec(ctx, "UPDATE batch_runs SET status = 'failed', error = 'test', finished_at = now() WHERE id = $1", first); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, insert).Scan(&second); err != nil {
		t.Fatalf("running run after the previous one failed: %v", err)
	}
}
