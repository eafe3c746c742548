//go:build !linux

package terminal

// awaitExit returns at once: cmd.Wait waits (see exit_linux.go).
func awaitExit(int) {}
