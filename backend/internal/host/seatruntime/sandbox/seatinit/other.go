//go:build !linux

package seatinit

// IsInit is always false off Linux.
func IsInit() bool { return false }

// Main off Linux only gives the programs this process starts the default
// action for an inherited, ignored SIGHUP or SIGINT.
func Main() { defaultIgnoredSignals() }
