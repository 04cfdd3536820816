package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// listenCloseTimeout bounds closing a listening connection after its context ended.
const listenCloseTimeout = 5 * time.Second

// Listen listens on the PostgreSQL notification channel, calls ready once it does,
// then fn with the payload of each notification, until ctx ends (it returns nil) or
// the connection fails (it returns the error). It takes one connection out of pool
// for the whole time and closes it at the end.
//
// Listen does not reconnect: a caller that keeps listening calls it again after a
// pause. Notifications sent in between are lost, so ready is the moment to read
// again what they announce.
func Listen(ctx context.Context, pool *pgxpool.Pool, channel string, ready func(), fn func(payload string)) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen on %s: acquire connection: %w", channel, err)
	}
	conn := c.Hijack() // a listening session must not go back to the pool
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), listenCloseTimeout)
		defer cancel()
		_ = conn.Close(closeCtx) // the session ends either way; nothing to report
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen on %s: %w", channel, err)
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait for notification on %s: %w", channel, err)
		}
		fn(n.Payload)
	}
}
