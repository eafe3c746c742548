package blob

import "time"

// ShortRetries makes the retry pauses short for a test.
func ShortRetries() (restore func()) {
	old := retryWaits
	retryWaits = []time.Duration{time.Millisecond, time.Millisecond}
	return func() { retryWaits = old }
}
