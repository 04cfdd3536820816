//go:build !unix

package embedded

// dirLock does not lock on this platform: run one broker per data directory.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return nil, nil }

func (*dirLock) release() {}
