package async

import (
	"riverqueue.com/riverui"
	"riverqueue.com/riverui/uiendpoints"
)

// UIEndpoints returns River's UI API bound to this queue's River client and
// store, whichever driver it is (SQLite or PostgreSQL), for
// riverui.NewHandler. The admin listener mounts it; the client itself stays
// private to the queue.
func (q *Queue) UIEndpoints() uiendpoints.Bundle { return q.store.ui() }

// ui is generic over the driver's transaction type, which the Queue hides.
func (c riverClient[TTx]) ui() uiendpoints.Bundle { return riverui.NewEndpoints(c.client, nil) }
