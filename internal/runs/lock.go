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
	key  lockKey
}

// lockKey names an advisory lock: one bigint key, or (when pair) the two int keys
// hi and lo, a key space of its own in PostgreSQL.
type lockKey struct {
	key    int64
	pair   bool
	hi, lo int32
}

// fn calls the advisory lock function name ("pg_try_advisory_lock", ...) on k.
func (k lockKey) fn(name string) (string, []any) {
	if k.pair {
		return "SELECT " + name + "($1::int, $2::int)", []any{k.hi, k.lo}
	}
	return "SELECT " + name + "($1)", []any{k.key}
}

// shardLockKey is the lock of shard index of run id: the pair (id mod 2^31, index).
func shardLockKey(id int64, index int) lockKey {
	return lockKey{pair: true, hi: int32(id % (1 << 31)), lo: int32(index)}
}

// TryLock takes the batch-run lock if it is free; false when another session holds it.
func TryLock(ctx context.Context, pool *pgxpool.Pool) (*Lock, bool, error) {
	return tryLock(ctx, pool, lockKey{key: runLockKey}, "batch lock")
}

// tryLock takes the advisory lock key, what it locks, if it is free.
func tryLock(ctx context.Context, pool *pgxpool.Pool, key lockKey, what string) (*Lock, bool, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("acquire postgres connection for the %s: %w", what, err)
	}
	var ok bool
	sql, args := key.fn("pg_try_advisory_lock")
	if err := conn.QueryRow(ctx, sql, args...).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("take %s: %w", what, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return &Lock{conn: conn, key: key}, true, nil
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
	key := lockKey{key: importLockKey}
	sql, args := key.fn("pg_advisory_lock")
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		conn.Release()
		return nil, fmt.Errorf("take import lock: %w", err)
	}
	return &Lock{conn: conn, key: key}, nil
}

// Release gives the lock up, even after ctx ended. If unlocking fails it closes the
// session, which releases the lock too.
func (l *Lock) Release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	sql, args := l.key.fn("pg_advisory_unlock")
	if _, err := l.conn.Exec(ctx, sql, args...); err != nil {
		_ = l.conn.Conn().Close(ctx) // a closed connection is dropped by the pool on Release
	}
	l.conn.Release()
}
