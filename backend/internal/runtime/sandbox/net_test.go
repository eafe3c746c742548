//go:build linux

package sandbox

func internetMain() int { return 1 }
