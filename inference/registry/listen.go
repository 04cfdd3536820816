package registry

import (
	"context"

	"github.com/lambda-platform/lambda/internal/store"
)

// Channel is the PostgreSQL notification channel on which every change of a model's
// active version is announced, with the model's name as payload (migration 0004).
const Channel = "model_activated"

// Listen calls notify with the model name of each activation and rollback, from the moment
// it has called ready, until ctx ends (it returns nil) or the connection fails. It holds
// one connection of the pool for the whole time and closes it at the end.
func (r *Registry) Listen(ctx context.Context, ready func(), notify func(model string)) error {
	return store.Listen(ctx, r.db, Channel, ready, notify)
}
