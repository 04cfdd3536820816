package registry

import (
	"context"
	"fmt"
	"time"
)

// Channel is the PostgreSQL notification channel on which every change of a model's
// active version is announced, with the model's name as payload (migration 0004).
const Channel = "model_activated"

// closeTimeout bounds closing the listening connection after ctx ended.
const closeTimeout = 5 * time.Second

// Listen calls notify with the model name of each activation and rollback, from the moment
// it has called ready, until ctx ends (it returns nil) or the connection fails. It holds
// one connection of the pool for the whole time and closes it at the end.
func (r *Registry) Listen(ctx context.Context, ready func(), notify func(model string)) error {
	c, err := r.db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen: acquire connection: %w", err)
	}
	conn := c.Hijack() // a listening session must not go back to the pool
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = conn.Close(closeCtx) // the session ends either way; nothing to report
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("listen on %s: %w", Channel, err)
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait for notification on %s: %w", Channel, err)
		}
		notify(n.Payload)
	}
}
