//go:build !unix

package config

// openFileLimit is unknown off unix: MAX_CONNECTIONS is taken as given.
func openFileLimit() uint64 { return 0 }
