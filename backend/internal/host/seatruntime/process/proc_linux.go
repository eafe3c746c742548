package process

import "github.com/clarateach/backend/internal/host/procinfo"

func hasProcFS() bool { return true }

// The /proc readers are shared with the other runtimes (procinfo).

func processStartTime(pid int) (uint64, error) { return procinfo.StartTime(pid) }

func isZombie(pid int) bool { return procinfo.IsZombie(pid) }

func descendants(pid int) []int { return procinfo.Descendants(pid) }
