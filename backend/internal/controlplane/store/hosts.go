package store

import "fmt"

// Placement of seats on a workshop's hosts.
//
// A seat's number is given out atomically by AssignSeat (the lowest free
// number in 1..Seats, from the workshop's free seat numbers), and a seat's host is
// arithmetic on that number: seat s lives on host ceil(s / SeatsPerHost).
// So placement is exactly as atomic as seat assignment, a seat never moves
// while it lives (SeatsPerHost is fixed when the workshop is created, see
// ErrSeatsPerHostFixed), and no host ever holds more than SeatsPerHost
// seats: the numbers that map to it are only SeatsPerHost.

// ErrSeatsPerHostFixed is what UpdateWorkshop and Transition return for a
// change of Workshop.SeatsPerHost: it would move live seats to other hosts.
var ErrSeatsPerHostFixed = fmt.Errorf("seats per host is fixed when the workshop is created: %w", ErrConflict)

// HostOf is the host (1..Hosts) that seat lives on.
func (w *Workshop) HostOf(seat int) int {
	if w.SeatsPerHost <= 0 || seat <= 0 {
		return 1
	}
	return (seat + w.SeatsPerHost - 1) / w.SeatsPerHost
}

// Hosts is how many hosts the workshop's Seats need: ceil(Seats /
// SeatsPerHost), and 1 for a workshop with every seat on one host.
func (w *Workshop) Hosts() int {
	if w.SeatsPerHost <= 0 || w.Seats <= w.SeatsPerHost {
		return 1
	}
	return w.HostOf(w.Seats)
}

// HostSeats is the range of seat numbers, first..last, that host holds
// (last is at most Seats; first > last for a host past the workshop's
// seats).
func (w *Workshop) HostSeats(host int) (first, last int) {
	if w.SeatsPerHost <= 0 {
		return 1, w.Seats
	}
	first = (host-1)*w.SeatsPerHost + 1
	return first, min(host*w.SeatsPerHost, w.Seats)
}

// CheckPlacement refuses a change of SeatsPerHost between before and
// after (ErrSeatsPerHostFixed).
func CheckPlacement(before, after *Workshop) error {
	if before.SeatsPerHost != after.SeatsPerHost {
		return ErrSeatsPerHostFixed
	}
	return nil
}

// HostRunning is the status of a host record (WorkshopVM.Status) whose
// agent answers and whose seats are created: its learners may connect.
const HostRunning = "running"
