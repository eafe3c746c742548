package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfile is --cpuprofile: where the warm burst's CPU profile goes.
var cpuProfile string

// profileBurst starts a CPU profile of this process when asked for and on;
// the returned function stops it.
func profileBurst(on bool) func() {
	if cpuProfile == "" || !on {
		return func() {}
	}
	f, err := os.Create(cpuProfile)
	if err != nil {
		fmt.Printf("cpu profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		fmt.Printf("cpu profile: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		fmt.Printf("cpu profile of the warm burst written to %s (go tool pprof -top %s)\n", cpuProfile, cpuProfile)
	}
}
