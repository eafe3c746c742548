package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfile is --cpuprofile: where the warm burst's CPU profile goes (the
// cold one's with --cpuprofile-cold). tpProfile is --tpprofile: the same
// for ours' throughput rounds.
var (
	cpuProfile, tpProfile string
	cpuProfileCold        bool
)

// tpProfiler profiles this process (the agent's proxy and the bench's
// client) during ours' throughput rounds, paused while the ceiling runs.
type tpProfiler struct {
	f  *os.File
	on bool
}

func profileThroughput() *tpProfiler {
	p := &tpProfiler{}
	if tpProfile == "" {
		return p
	}
	f, err := os.Create(tpProfile)
	if err != nil {
		fmt.Printf("cpu profile: %v\n", err)
		return p
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		fmt.Printf("cpu profile: %v\n", err)
		return p
	}
	p.f, p.on = f, true
	return p
}

// pause ends the profile before the ceiling's first round (a CPU profile
// cannot be paused and resumed into one file): the profile covers ours'
// first round only.
func (p *tpProfiler) pause() {
	if p.on {
		pprof.StopCPUProfile()
		p.on = false
	}
}

// resume is a no-op: see pause.
func (p *tpProfiler) resume() {}

func (p *tpProfiler) stop() {
	if p.f == nil {
		return
	}
	p.pause()
	p.f.Close()
	fmt.Printf("cpu profile of ours' first throughput round written to %s (go tool pprof -top %s)\n", tpProfile, tpProfile)
}

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
		fmt.Printf("cpu profile of the burst written to %s (go tool pprof -top %s)\n", cpuProfile, cpuProfile)
	}
}
