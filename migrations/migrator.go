package migrations

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Status is a database's migration state against the migrations in this binary.
type Status struct {
	Current int         // highest applied version; 0 when none
	Latest  int         // highest version this binary has
	Pending []Migration // migrations above Current, in order
}

// engine is what the migrator needs from a database.
type engine interface {
	// prepare creates what recording versions needs, if missing.
	prepare(ctx context.Context) error
	// current returns the highest recorded version, 0 when none or not prepared.
	current(ctx context.Context) (int, error)
	// apply runs m and records its version.
	apply(ctx context.Context, m Migration) error
}

// migrate applies the migrations of ms that e lacks, in order, and returns how many.
func migrate(ctx context.Context, e engine, ms []Migration, log *slog.Logger) (int, error) {
	if err := e.prepare(ctx); err != nil {
		return 0, fmt.Errorf("prepare version table: %w", err)
	}
	st, err := status(ctx, e, ms)
	if err != nil {
		return 0, err
	}
	if st.Current > st.Latest {
		log.Warn("database schema is newer than this binary", "current", st.Current, "latest", st.Latest)
	}
	for i, m := range st.Pending {
		start := time.Now()
		if err := e.apply(ctx, m); err != nil {
			return i, fmt.Errorf("migration %d_%s: %w", m.Version, m.Name, err)
		}
		log.Info("migration applied", "version", m.Version, "name", m.Name, "duration", time.Since(start))
	}
	log.Info("schema up to date", "version", max(st.Current, st.Latest), "applied", len(st.Pending))
	return len(st.Pending), nil
}

// status compares what e recorded with ms.
func status(ctx context.Context, e engine, ms []Migration) (Status, error) {
	cur, err := e.current(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("read current version: %w", err)
	}
	st := Status{Current: cur}
	for _, m := range ms {
		st.Latest = m.Version
		if m.Version > cur {
			st.Pending = append(st.Pending, m)
		}
	}
	return st, nil
}
