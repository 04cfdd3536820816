package report

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/views"
)

// Side is what one way of rolling out cost and when its answers came. Durations are
// -1 when unknown (not reached yet), bytes -1 when not measurable any more.
type Side struct {
	Path          string // "lambda" or "kappa"
	What          string // "batch run 3", "replay 2"
	Model         string // NAME@VERSION
	Wall          time.Duration
	CPUSeconds    float64
	PeakHeapBytes int64
	BytesRead     int64
	ReadFrom      string
	BytesStored   int64
	StoredIn      string
	EventsRead    int64
	RowsWritten   int64
	// FirstNew and LastNew: from the request to the first and the last answer served
	// from the new view.
	FirstNew, LastNew time.Duration
}

// Rollout is a batch run and a replay side by side.
type Rollout struct {
	Lambda, Kappa Side
	// AsOf is the common as_of the two views' states are compared at: the run's.
	AsOf time.Time
	// Entities in both views; of them, those whose feature state is the same (the
	// same events folded) and, among those, whose vector at AsOf is equal.
	Both, StatesEqual, VectorsEqual int
	// OnlyLambda and OnlyKappa: entities in one view only.
	OnlyLambda, OnlyKappa int
	// MaxDelta and MeanDelta are |Δscore| over the entities with equal states: the
	// run's score against the replay's model on the replay's state at AsOf.
	MaxDelta, MeanDelta float64
}

// RolloutDeps are where Rollout reads from.
type RolloutDeps struct {
	Postgres *pgxpool.Pool
	Batch    *views.Batch
	Models   *registry.Registry
}

// NewRollout compares batch run runID with replay replayID. The ONNX Runtime must be
// initialised (the replay's model scores its states).
func NewRollout(ctx context.Context, d RolloutDeps, runID, replayID int64) (Rollout, error) {
	run, err := runs.Get(ctx, d.Postgres, runID)
	if err != nil {
		return Rollout{}, err
	}
	if run.Status != runs.StatusPublished && run.Status != runs.StatusExpired {
		return Rollout{}, fmt.Errorf("batch run %d is %s: compare a published run", runID, run.Status)
	}
	rep, err := replays.Get(ctx, d.Postgres, replayID)
	if err != nil {
		return Rollout{}, err
	}
	if rep.ReadyAt.IsZero() {
		return Rollout{}, fmt.Errorf("replay %d has not caught up with the log yet (%s, %d/%d offsets)", replayID, rep.Status, rep.OffsetsDone, rep.OffsetsTotal)
	}
	out := Rollout{AsOf: run.CutoffEventTime, Lambda: lambdaSide(run), Kappa: kappaSide(rep)}
	if out.Kappa.BytesStored, err = kappaViewBytes(ctx, d.Postgres, rep); err != nil {
		return Rollout{}, err
	}
	if rep.DroppedAt.IsZero() {
		if err := out.compare(ctx, d, run, rep); err != nil {
			return Rollout{}, err
		}
	}
	return out, nil
}

func lambdaSide(r runs.Run) Side {
	s := Side{Path: "lambda", What: fmt.Sprintf("batch run %d", r.ID), Model: fmt.Sprintf("%s@%d", r.ModelName, r.ModelVersion),
		Wall: r.FinishedAt.Sub(r.StartedAt), CPUSeconds: r.CPUSeconds, PeakHeapBytes: r.PeakHeapBytes,
		BytesRead: r.BytesRead, ReadFrom: "ClickHouse events", BytesStored: r.BytesStored, StoredIn: "ClickHouse batch_view",
		EventsRead: r.EventsRead, RowsWritten: r.RowsWritten}
	// A publish switches every batch answer at once.
	s.FirstNew = r.PublishedAt.Sub(r.CreatedAt)
	s.LastNew = s.FirstNew
	return s
}

func kappaSide(r replays.Replay) Side {
	s := Side{Path: "kappa", What: fmt.Sprintf("replay %d", r.ID), Model: r.ModelName,
		Wall: r.ReadyAt.Sub(r.CreatedAt), CPUSeconds: r.CPUSeconds, PeakHeapBytes: r.PeakHeapBytes,
		BytesRead: r.BytesRead, ReadFrom: "Kafka events", StoredIn: "PostgreSQL " + r.Table(),
		EventsRead: r.EventsRead, RowsWritten: r.RowsWritten, FirstNew: -1, LastNew: -1}
	if r.ModelVersion != 0 {
		s.Model += "@" + strconv.FormatInt(r.ModelVersion, 10)
	}
	if !r.SwitchedAt.IsZero() { // a switch moves every answer at once
		s.FirstNew = r.SwitchedAt.Sub(r.CreatedAt)
		s.LastNew = s.FirstNew
	}
	return s
}

// batchViewBytes is the size on disk of run runID's partition of batch_view.
// kappaViewBytes is the size of rep's view table with its index, -1 once dropped.
func kappaViewBytes(ctx context.Context, db *pgxpool.Pool, rep replays.Replay) (int64, error) {
	if !rep.DroppedAt.IsZero() {
		return -1, nil
	}
	var n int64
	if err := db.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass)", pgx.Identifier{rep.Table()}.Sanitize()).Scan(&n); err != nil {
		return 0, fmt.Errorf("size of %s: %w", rep.Table(), err)
	}
	return n, nil
}

// kappaState is a replay row's state and the model that scored it.
type kappaState struct {
	state   []byte
	model   string
	version int64
}

// compare reads both views and fills the comparison.
func (r *Rollout) compare(ctx context.Context, d RolloutDeps, run runs.Run, rep replays.Replay) error {
	rows, err := d.Postgres.Query(ctx, "SELECT entity_id, delta_state, coalesce(model_name, ''), coalesce(model_version, 0) FROM "+
		pgx.Identifier{rep.Table()}.Sanitize())
	if err != nil {
		return fmt.Errorf("read %s: %w", rep.Table(), err)
	}
	kappa := map[string]kappaState{}
	for rows.Next() {
		var id string
		var k kappaState
		if err := rows.Scan(&id, &k.state, &k.model, &k.version); err != nil {
			rows.Close()
			return fmt.Errorf("read %s: %w", rep.Table(), err)
		}
		kappa[id] = k
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s: %w", rep.Table(), err)
	}
	spec := features.DefaultSpec()
	if rep.Spec != "" {
		if spec, err = features.ParseSpec([]byte(rep.Spec)); err != nil {
			return fmt.Errorf("replay %d's feature spec: %w", rep.ID, err)
		}
	}
	model, err := r.kappaModel(ctx, d.Models, kappa)
	if err != nil {
		return err
	}
	if model != nil {
		defer model.Close()
	}
	var sum float64
	err = d.Batch.Scan(ctx, run.ID, views.Scores|views.States, func(b *views.Record) error {
		k, ok := kappa[string(b.EntityID)]
		if !ok {
			r.OnlyLambda++
			return nil
		}
		delete(kappa, string(b.EntityID))
		r.Both++
		if string(k.state) != string(b.State) {
			return nil
		}
		r.StatesEqual++
		st, err := spec.Decode(k.state)
		if err != nil {
			return err
		}
		vec := st.Vector(b.AsOf)
		if equal(vec, b.Vector) {
			r.VectorsEqual++
		}
		if model == nil {
			return nil
		}
		score, err := model.ScoreOne(ctx, vec)
		if err != nil {
			return err
		}
		delta := math.Abs(float64(score - b.Score))
		r.MaxDelta, sum = max(r.MaxDelta, delta), sum+delta
		return nil
	})
	if err != nil {
		return fmt.Errorf("compare batch run %d with replay %d: %w", run.ID, rep.ID, err)
	}
	r.OnlyKappa = len(kappa)
	if r.StatesEqual > 0 {
		r.MeanDelta = sum / float64(r.StatesEqual)
	}
	return nil
}

// kappaModel loads the model that scored the replay's rows (nil when none did).
func (r *Rollout) kappaModel(ctx context.Context, models *registry.Registry, kappa map[string]kappaState) (*inference.Model, error) {
	for _, k := range kappa {
		if k.model == "" {
			continue
		}
		v, err := models.Version(ctx, k.model, k.version)
		if err != nil {
			return nil, err
		}
		r.Kappa.Model = v.String()
		return models.Load(ctx, v, registry.FP32, inference.Options{Sessions: 1})
	}
	return nil, nil
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Write prints the two sides as a table, then the comparison.
func (r Rollout) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(name string, l, k string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", name, l, k) }
	L, K := r.Lambda, r.Kappa
	row("rollout", L.Path+" ("+L.What+")", K.Path+" ("+K.What+")")
	row("model", L.Model, K.Model)
	row("wall time", dur(L.Wall), dur(K.Wall))
	row("CPU seconds (process)", fmt.Sprintf("%.2f", L.CPUSeconds), fmt.Sprintf("%.2f", K.CPUSeconds))
	row("peak heap", size(L.PeakHeapBytes), size(K.PeakHeapBytes))
	row("bytes read", size(L.BytesRead)+" from "+L.ReadFrom, size(K.BytesRead)+" from "+K.ReadFrom)
	row("bytes stored", size(L.BytesStored)+" in "+L.StoredIn, size(K.BytesStored)+" in "+K.StoredIn)
	row("events read", strconv.FormatInt(L.EventsRead, 10), strconv.FormatInt(K.EventsRead, 10))
	row("rows written", strconv.FormatInt(L.RowsWritten, 10), strconv.FormatInt(K.RowsWritten, 10))
	row("first answer from it", dur(L.FirstNew), dur(K.FirstNew))
	row("last answer from it", dur(L.LastNew), dur(K.LastNew))
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nentities in both views: %d (only in the batch view %d, only in the replay's %d)\n"+
		"same feature state: %d; same vector at the run's as_of (%s): %d\n"+
		"|Δscore| over the entities with the same state: max %.3g, mean %.3g\n",
		r.Both, r.OnlyLambda, r.OnlyKappa, r.StatesEqual, r.AsOf.Format(time.RFC3339), r.VectorsEqual, r.MaxDelta, r.MeanDelta)
	return err
}

func dur(d time.Duration) string {
	if d < 0 {
		return "not yet"
	}
	return d.Round(time.Millisecond).String()
}

func size(n int64) string {
	switch {
	case n < 0:
		return "(dropped)"
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
