package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiles are -cpuprofile and -memprofile: where the storm's CPU and
// allocation profiles of this process go ("" = not taken).
var profiles struct{ cpu, mem string }

// profileStorm starts the asked-for profiles of this process (the server
// and the load's HTTP client); the returned function writes them.
func profileStorm() func() {
	stopCPU := func() {}
	if profiles.cpu != "" {
		f, err := os.Create(profiles.cpu)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Printf("cpu profile: %v\n", err)
		} else {
			stopCPU = func() {
				pprof.StopCPUProfile()
				f.Close()
				fmt.Printf("cpu profile of the storm written to %s (go tool pprof -top %s)\n", profiles.cpu, profiles.cpu)
			}
		}
	}
	if profiles.mem != "" {
		// Every allocation, so that per-request counts can be read off
		// (alloc_objects / requests); it slows the storm down.
		runtime.MemProfileRate = 1
	}
	return func() {
		stopCPU()
		if profiles.mem == "" {
			return
		}
		runtime.GC()
		f, err := os.Create(profiles.mem)
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		if err != nil {
			fmt.Printf("alloc profile: %v\n", err)
			return
		}
		fmt.Printf("alloc profile written to %s (go tool pprof -sample_index=alloc_objects -top %s); every allocation sampled, so times are inflated\n", profiles.mem, profiles.mem)
	}
}
