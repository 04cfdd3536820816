package tests

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
)

// TestReplayEqualsBatchRun: a Kappa replay (`lambda kappa replay`, run by `lambda up`'s
// jobs) over a stream with late events and producer retries folds every entity to the
// same feature state as a batch run over the same log, and at the run's as_of gives the
// same vector and a score within 1e-6; its progress reaches the whole log.
func TestReplayEqualsBatchRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pool, env, token := freshPlatform(t)
	env = append(env, "LAMBDA_MODEL="+e2eModel)
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", "100")
	up := start(t, env, "up")
	api := up.waitLine(t, "api", time.Minute)
	brokers := strings.Fields(up.waitLine(t, "kafka", time.Second))[0]
	testenv.WaitFor(t, time.Minute, "GET /readyz = 200", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })

	// A stream with late events (demogen's 2%) and producer retries: 300 events sent again.
	g := demogen.New(demogen.Config{Entities: 100, Seed: 21, Start: time.Now().Add(-2 * time.Hour), EventsPerSecond: 2})
	evs := take(g, 6000)
	r := rand.New(rand.NewPCG(21, 1))
	for range 300 {
		evs = append(evs, evs[r.IntN(len(evs))])
	}
	w, err := kafka.NewWriter([]string{brokers}, e2eTopic)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	waitCommitted(t, ctx, brokers, e2eArchiver)
	runID := triggerRun(t, api, token)

	out := run(t, ctx, env, "kappa", "replay")
	t.Logf("lambda kappa replay:\n%s", out)
	var id int64
	if _, err := fmt.Sscanf(out, "replay %d started", &id); err != nil {
		t.Fatalf("lambda kappa replay printed %q", out)
	}
	rep, err := replays.Get(ctx, pool, id)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := kafka.EndOffsets(ctx, []string{brokers}, e2eTopic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range ends {
		total += n
	}
	if rep.Status != replays.Ready || rep.OffsetsDone != total || rep.OffsetsTotal != total {
		t.Errorf("replay %d: %s, %d/%d offsets; want ready with the whole log, %d", id, rep.Status, rep.OffsetsDone, rep.OffsetsTotal, total)
	}

	spec := features.DefaultSpec()
	active, err := registry.New(pool, quiet).Active(ctx, e2eModel)
	if err != nil {
		t.Fatal(err)
	}
	fp32, _, err := registry.New(pool, quiet).ONNX(ctx, e2eModel, active.Version, registry.FP32)
	if err != nil {
		t.Fatal(err)
	}
	model, err := inference.LoadModel(fp32, active.Meta(), inference.Options{Sessions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	kappaRows := readKappaView(t, ctx, pool, rep)
	chDB := envValue(env, "LAMBDA_CLICKHOUSE_DATABASE")
	var checked int
	var maxDelta float64
	err = views.NewBatch(testenv.ClickHouseStream(""), chDB).Scan(ctx, runID, views.Scores|views.States, func(b *views.Record) error {
		id := string(b.EntityID)
		k, ok := kappaRows[id]
		if !ok {
			return fmt.Errorf("%s: in the batch view, not in the replay's", id)
		}
		delete(kappaRows, id)
		if !bytes.Equal(k.state, b.State) {
			return fmt.Errorf("%s: the replay's feature state differs from the batch run's", id)
		}
		st, err := spec.Decode(k.state)
		if err != nil {
			return err
		}
		vec := st.Vector(b.AsOf)
		for i := range vec {
			if vec[i] != b.Vector[i] {
				return fmt.Errorf("%s: feature %d at the run's as_of: replay %v, batch %v", id, i, vec[i], b.Vector[i])
			}
		}
		score, err := model.ScoreOne(ctx, vec)
		if err != nil {
			return err
		}
		d := math.Abs(float64(score - b.Score))
		maxDelta = max(maxDelta, d)
		if d > 1e-6 {
			return fmt.Errorf("%s: score %v from the replay's state, %v in the batch view", id, score, b.Score)
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(kappaRows) > 0 || checked < 90 {
		t.Errorf("%d entities checked, %d in the replay's view only; want every entity of the log in both", checked, len(kappaRows))
	}
	t.Logf("replay %d equals batch run %d on %d entities (max |Δscore| %.2g)", id, runID, checked, maxDelta)
	if list := run(t, ctx, env, "kappa", "list"); !strings.Contains(list, "replay "+strconv.FormatInt(id, 10)+" ready") {
		t.Errorf("lambda kappa list:\n%s\nwant replay %d ready", list, id)
	}
	up.stop(t, 30*time.Second)
}

type kappaRow struct {
	state []byte
}

// readKappaView reads the feature states of rep's view.
func readKappaView(t *testing.T, ctx context.Context, pool *pgxpool.Pool, rep replays.Replay) map[string]kappaRow {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT entity_id, delta_state FROM "+pgx.Identifier{rep.Table()}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]kappaRow{}
	for rows.Next() {
		var id string
		var state []byte
		if err := rows.Scan(&id, &state); err != nil {
			t.Fatal(err)
		}
		out[id] = kappaRow{state: state}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// envValue is the value of key in env (KEY=value entries; the last one counts).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
