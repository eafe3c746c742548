//go:build !linux

package seatinit

// IsInit is always false off Linux.
func IsInit() bool { return false }

// Main does nothing off Linux.
func Main() {}
