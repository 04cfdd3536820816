package replays

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Statuses of a replay.
const (
	Replaying = "replaying"
	Ready     = "ready"
	Live      = "live"
	Retired   = "retired"
	Failed    = "failed"
	Stopped   = "stopped"
)

// ChangeChannel is the notification channel that carries a replay's id at every status
// change.
const ChangeChannel = "kappa_replays_changed"

var (
	// ErrNotFound: no replay has that id.
	ErrNotFound = errors.New("kappa replay not found")
	// ErrState: the replay is not in a status the change applies to.
	ErrState = errors.New("kappa replay is not in a status that allows this")
)

// Replay is one row of kappa_replays.
type Replay struct {
	ID              int64
	Status          string
	SwitchWhenReady bool
	ModelName       string
	ModelVersion    int64 // 0: the active version
	Spec            string
	RequestedBy     string
	CreatedAt       time.Time
	ReadyAt         time.Time
	SwitchedAt      time.Time
	RetiredAt       time.Time
	DroppedAt       time.Time
	OffsetsTotal    int64
	OffsetsDone     int64
	EventsPerSecond float64
	Error           string
	// What it cost until it was ready (Cost).
	CPUSeconds    float64
	PeakHeapBytes int64
	BytesRead     int64 // from Kafka
	EventsRead    int64
	RowsWritten   int64
	// Covered is, per partition, the last offset its job has committed (-1: none).
	Covered []int64
}

// Running reports whether the replay's job runs: replaying, ready or live.
func (r Replay) Running() bool { return r.Status == Replaying || r.Status == Ready || r.Status == Live }

// Table is the replay's view table.
func (r Replay) Table() string { return Table(r.ID) }

// Table is the view table of replay id.
func Table(id int64) string { return "kappa_view_" + strconv.FormatInt(id, 10) }

// DB is the part of a pgx pool the registry uses.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

const columns = `id, status, switch_when_ready, model_name, model_version, spec, requested_by, created_at,
	ready_at, switched_at, retired_at, dropped_at, offsets_total, offsets_done, events_per_second, error,
	cpu_seconds, peak_heap_bytes, bytes_read, events_read, rows_written, covered`

func scan(row pgx.Row) (Replay, error) {
	var (
		r                                 Replay
		version                           *int64
		spec, errText                     *string
		ready, switched, retired, dropped *time.Time
	)
	err := row.Scan(&r.ID, &r.Status, &r.SwitchWhenReady, &r.ModelName, &version, &spec, &r.RequestedBy, &r.CreatedAt,
		&ready, &switched, &retired, &dropped, &r.OffsetsTotal, &r.OffsetsDone, &r.EventsPerSecond, &errText,
		&r.CPUSeconds, &r.PeakHeapBytes, &r.BytesRead, &r.EventsRead, &r.RowsWritten, &r.Covered)
	if err != nil {
		return Replay{}, err
	}
	r.ModelVersion, r.Spec, r.Error = value(version), value(spec), value(errText)
	r.ReadyAt, r.SwitchedAt, r.RetiredAt, r.DroppedAt = value(ready), value(switched), value(retired), value(dropped)
	return r, nil
}

func value[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Request is what a new replay folds with.
type Request struct {
	ModelName    string
	ModelVersion int64  // 0: the active version
	Spec         string // feature spec JSON; empty: the built-in default
	Switch       bool   // switch readers to it once it is ready
	RequestedBy  string
}

// Create records a replay and creates its view table, in one transaction.
func Create(ctx context.Context, db DB, req Request) (Replay, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return Replay{}, fmt.Errorf("create kappa replay: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	r, err := createIn(ctx, tx, req)
	if err != nil {
		return Replay{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Replay{}, fmt.Errorf("create kappa replay: %w", err)
	}
	return r, nil
}

// createIn records a replay and creates its view table in tx.
func createIn(ctx context.Context, tx pgx.Tx, req Request) (Replay, error) {
	r, err := scan(tx.QueryRow(ctx, `INSERT INTO kappa_replays (switch_when_ready, model_name, model_version, spec, requested_by)
		VALUES ($1, $2, NULLIF($3, 0), NULLIF($4, ''), $5) RETURNING `+columns,
		req.Switch, req.ModelName, req.ModelVersion, req.Spec, req.RequestedBy))
	if err != nil {
		return Replay{}, fmt.Errorf("create kappa replay: %w", err)
	}
	t := pgx.Identifier{r.Table()}.Sanitize()
	if _, err := tx.Exec(ctx, "CREATE TABLE "+t+" (LIKE speed_view INCLUDING ALL) WITH (fillfactor = 80)"); err != nil {
		return Replay{}, fmt.Errorf("create the view of kappa replay %d: %w", r.ID, err)
	}
	return r, nil
}

// Get returns replay id.
func Get(ctx context.Context, db DB, id int64) (Replay, error) {
	r, err := scan(db.QueryRow(ctx, "SELECT "+columns+" FROM kappa_replays WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Replay{}, fmt.Errorf("kappa replay %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Replay{}, fmt.Errorf("read kappa replay %d: %w", id, err)
	}
	return r, nil
}

// LiveReplay returns the live replay; ok is false when none is.
func LiveReplay(ctx context.Context, db DB) (r Replay, ok bool, err error) {
	r, err = scan(db.QueryRow(ctx, "SELECT "+columns+" FROM kappa_replays WHERE status = 'live'"))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Replay{}, false, nil
	case err != nil:
		return Replay{}, false, fmt.Errorf("read the live kappa replay: %w", err)
	}
	return r, true, nil
}

// List returns the newest limit replays, newest first.
func List(ctx context.Context, db DB, limit int) ([]Replay, error) {
	return list(ctx, db, "ORDER BY id DESC LIMIT $1", limit)
}

// Pending returns the replays whose job runs, and the retired or stopped ones whose
// view is not dropped yet, oldest first.
func Pending(ctx context.Context, db DB) ([]Replay, error) {
	return list(ctx, db, "WHERE status IN ('replaying', 'ready', 'live') OR (status IN ('retired', 'stopped', 'failed') AND dropped_at IS NULL) ORDER BY id")
}

func list(ctx context.Context, db DB, where string, args ...any) ([]Replay, error) {
	rows, err := db.Query(ctx, "SELECT "+columns+" FROM kappa_replays "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list kappa replays: %w", err)
	}
	defer rows.Close()
	var out []Replay
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list kappa replays: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list kappa replays: %w", err)
	}
	return out, nil
}

// Progress records how far replay id's job is: per partition the last offset it has
// committed, offsets folded of the total, and its rate.
func Progress(ctx context.Context, db DB, id int64, covered []int64, done, total int64, eventsPerSecond float64) error {
	_, err := db.Exec(ctx, `UPDATE kappa_replays SET covered = $2, offsets_done = $3, offsets_total = $4, events_per_second = $5 WHERE id = $1`,
		id, covered, done, total, eventsPerSecond)
	if err != nil {
		return fmt.Errorf("record the progress of kappa replay %d: %w", id, err)
	}
	return nil
}

// Cost is what a replay cost until it caught up with the log.
type Cost struct {
	CPUSeconds    float64
	PeakHeapBytes int64
	BytesRead     int64
	EventsRead    int64
	RowsWritten   int64
}

// MarkReady records that replay id caught up with the head of the log, at cost c; a
// replay created with switch_when_ready is switched to in the same transaction (see
// Switch), so nobody sees it ready but not live. It returns the replay as it is now.
func MarkReady(ctx context.Context, db DB, id int64, c Cost) (Replay, error) {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var switchNow bool
		err := tx.QueryRow(ctx, `UPDATE kappa_replays SET status = 'ready', ready_at = now(),
			cpu_seconds = $2, peak_heap_bytes = $3, bytes_read = $4, events_read = $5, rows_written = $6
			WHERE id = $1 AND status = 'replaying' RETURNING switch_when_ready`,
			id, c.CPUSeconds, c.PeakHeapBytes, c.BytesRead, c.EventsRead, c.RowsWritten).Scan(&switchNow)
		switch {
		case errors.Is(err, pgx.ErrNoRows): // marked before
			return nil
		case err != nil || !switchNow:
			return err
		}
		return switchTo(ctx, tx, id)
	})
	if err != nil {
		return Replay{}, fmt.Errorf("mark kappa replay %d ready: %w", id, err)
	}
	return Get(ctx, db, id)
}

// Switch makes ready replay id the live one and retires the replay live before it, in
// one transaction.
func Switch(ctx context.Context, db DB, id int64) error {
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return switchTo(ctx, tx, id) }); err != nil {
		return fmt.Errorf("switch to kappa replay %d: %w", id, err)
	}
	return nil
}

// switchTo retires the live replay and makes replay id live, in tx.
func switchTo(ctx context.Context, tx pgx.Tx, id int64) error {
	if _, err := tx.Exec(ctx, `UPDATE kappa_replays SET status = 'retired', retired_at = now() WHERE status = 'live' AND id <> $1`, id); err != nil {
		return fmt.Errorf("retire the live one: %w", err)
	}
	tag, err := tx.Exec(ctx, `UPDATE kappa_replays SET status = 'live', switched_at = now() WHERE id = $1 AND status IN ('ready', 'live')`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("it has not caught up with the log: %w", ErrState)
	}
	return nil
}

// Release returns the live replay, if any, to ready: readers go back to the Lambda
// views, and its job keeps its view current. It returns the released replay's id (0: none was live).
func Release(ctx context.Context, db DB) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `UPDATE kappa_replays SET status = 'ready' WHERE status = 'live' RETURNING id`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("release the live kappa replay: %w", err)
	}
	return id, nil
}

// Stop ends replay id, which must not be live; its job stops and its view is dropped later.
func Stop(ctx context.Context, db DB, id int64) error {
	return end(ctx, db, id, Stopped, "")
}

// Fail ends replay id with err.
func Fail(ctx context.Context, db DB, id int64, cause error) error {
	return end(ctx, db, id, Failed, cause.Error())
}

func end(ctx context.Context, db DB, id int64, status, errText string) error {
	tag, err := db.Exec(ctx, `UPDATE kappa_replays SET status = $2, retired_at = now(), error = NULLIF($3, '')
		WHERE id = $1 AND status IN ('replaying', 'ready')`, id, status, errText)
	if err != nil {
		return fmt.Errorf("end kappa replay %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("end kappa replay %d: not replaying or ready: %w", id, ErrState)
	}
	return nil
}

// DropView drops the view of replay id, which must be retired, stopped or failed, and
// records it.
func DropView(ctx context.Context, db DB, id int64) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("drop the view of kappa replay %d: %w", id, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	tag, err := tx.Exec(ctx, `UPDATE kappa_replays SET dropped_at = now() WHERE id = $1 AND status IN ('retired', 'stopped', 'failed') AND dropped_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("drop the view of kappa replay %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("drop the view of kappa replay %d: %w", id, ErrState)
	}
	if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{Table(id)}.Sanitize()); err != nil {
		return fmt.Errorf("drop the view of kappa replay %d: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("drop the view of kappa replay %d: %w", id, err)
	}
	return nil
}

// Registry is the registry of one database, for callers that hold it rather than pass
// a DB to each call (the serving layer). It is safe for concurrent use.
type Registry struct{ db DB }

// NewRegistry returns the registry of db.
func NewRegistry(db DB) *Registry { return &Registry{db: db} }

// Create records a replay; see Create.
func (r *Registry) Create(ctx context.Context, req Request) (Replay, error) {
	return Create(ctx, r.db, req)
}

// Get returns replay id.
func (r *Registry) Get(ctx context.Context, id int64) (Replay, error) { return Get(ctx, r.db, id) }

// List returns the newest limit replays, newest first.
func (r *Registry) List(ctx context.Context, limit int) ([]Replay, error) {
	return List(ctx, r.db, limit)
}

// ErrModelRef: a model reference is neither NAME nor NAME@VERSION.
var ErrModelRef = errors.New("model: want NAME or NAME@VERSION with a positive version")

// ParseModelRef parses NAME or NAME@VERSION (version 0: the active one).
func ParseModelRef(s string) (string, int64, error) {
	name, v, ok := strings.Cut(s, "@")
	if name == "" {
		return "", 0, fmt.Errorf("%q: %w", s, ErrModelRef)
	}
	if !ok {
		return name, 0, nil
	}
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil || version < 1 {
		return "", 0, fmt.Errorf("%q: %w", s, ErrModelRef)
	}
	return name, version, nil
}

// EnsureServing makes sure readers will have a replay to answer from, as a platform
// without a batch layer needs: unless a replay is live, or one that switches when
// ready is on its way, it starts one with req (Switch set). It returns the replay
// that serves or will, and whether it started it. Concurrent callers are serialised.
func EnsureServing(ctx context.Context, db DB, req Request) (Replay, bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return Replay{}, false, fmt.Errorf("ensure a serving kappa replay: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('kappa_replays'))"); err != nil {
		return Replay{}, false, fmt.Errorf("ensure a serving kappa replay: %w", err)
	}
	r, err := scan(tx.QueryRow(ctx, "SELECT "+columns+` FROM kappa_replays
		WHERE status = 'live' OR (status IN ('replaying', 'ready') AND switch_when_ready) ORDER BY status = 'live' DESC, id DESC LIMIT 1`))
	switch {
	case err == nil:
		return r, false, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return Replay{}, false, fmt.Errorf("ensure a serving kappa replay: %w", err)
	}
	req.Switch = true
	if r, err = createIn(ctx, tx, req); err != nil {
		return Replay{}, false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Replay{}, false, fmt.Errorf("ensure a serving kappa replay: %w", err)
	}
	return r, true, nil
}
