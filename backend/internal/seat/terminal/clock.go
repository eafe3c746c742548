package terminal

import (
	"time"
)

// Clock is the time source of a Manager. Tests inject a fake clock so idle
// reaping and stall detection run without sleeping.
type Clock interface {
	Now() time.Time
	// After is like time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
