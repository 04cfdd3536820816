package runs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Advisory lock keys: batch runs ("lbatch" in ASCII) and imports into the master
// dataset ("limprt"). Advisory locks are per database, so two platforms on one server
// do not contend.
const (
	runLockKey    int64 = 0x6c6261746368
	importLockKey int64 = 0x6c696d707274
)

// unlockTimeout bounds releasing the lock after the context ended.
const unlockTimeout = 5 * time.Second

// Lock is an advisory lock held by a session of its own.
type Lock struct {
	conn *pgxpool.Conn
	key  int64
}

// TryLock takes the batch-run lock if it is free; false when another session holds it.
func TryLock(ctx context.Context, pool *pgxpool.Pool) (*Lock, bool, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("acquire postgres connection for the batch lock: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", runLockKey).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("take batch lock: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return &Lock{conn: conn, key: runLockKey}, true, nil
}

// LockImports takes the import lock, waiting for it. Imports into the master dataset
// hold it while they number and insert their rows, so import sequence numbers grow in
// insert order: a run whose cutoff includes number n then includes every imported row
// numbered below n too.
func LockImports(ctx context.Context, pool *pgxpool.Pool) (*Lock, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire postgres connection for the import lock: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", importLockKey); err != nil {
		conn.Release()
		return nil, fmt.Errorf("take import lock: %w", err)
	}
	return &Lock{conn: conn, key: importLockKey}, nil
}

// Release gives the lock up, even after ctx ended. If unlocking fails it closes the
// session, which releases the lock too.
func (l *Lock) Release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	if _, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", l.key); err != nil {
		_ = l.conn.Conn().Close(ctx) // a closed connection is dropped by the pool on Release
	}
	l.conn.Release()
}
