package inference

// HoldSession checks out one of m's sessions until the returned function is called, so that
// tests can make callers wait for a session.
func HoldSession(m *Model) (release func()) {
	s := <-m.pool.free
	return func() { m.pool.put(s) }
}
