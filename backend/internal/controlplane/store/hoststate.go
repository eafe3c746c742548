package store

// The state of each host of a workshop, as the class view, the API and the
// operators' CLI show it, derived from the workshop and its host records
// (ListWorkshopHosts). The reconciler writes the records; this only reads
// them.

// Host states (HostState.State).
const (
	HostProvisioning = "provisioning" // being created, or not asked for yet
	HostReady        = "ready"        // its agent answers and its seats exist
	HostUnhealthy    = "unhealthy"    // it ran, and its agent stopped answering: being repaired
	HostFailed       = "failed"       // the provider refused or failed it (Reason: why, e.g. quota)
	HostStopped      = "stopped"      // the workshop is not started, stopped or deleted
)

// HostState is one host of a workshop: its number, name, state (and why),
// and the seats placed on it (FirstSeat..LastSeat; none when first > last,
// a host past the workshop's seats that is being drained).
type HostState struct {
	Number    int
	Name      string
	State     string
	Reason    string
	FirstSeat int
	LastSeat  int
	Zone      string
	IP        string
}

// Seats is how many seat numbers the host holds.
func (h HostState) Seats() int {
	return max(h.LastSeat-h.FirstSeat+1, 0)
}

// HostStates lists every host w has or needs, 1..N by number: N is the
// hosts its seats need (Workshop.Hosts), or more while a record past them
// remains. rows are w's host records (any order); name names a host that
// has no record (or no name) yet, e.g. the GCE instance it will be.
func HostStates(w *Workshop, rows []WorkshopVM, name func(n int) string) []HostState {
	byNumber := map[int]*WorkshopVM{}
	n := w.Hosts()
	for i := range rows {
		byNumber[max(rows[i].HostIndex, 1)] = &rows[i]
		n = max(n, rows[i].HostIndex)
	}
	out := make([]HostState, 0, n)
	for i := 1; i <= n; i++ {
		h := HostState{Number: i}
		h.FirstSeat, h.LastSeat = w.HostSeats(i)
		vm := byNumber[i]
		if vm != nil {
			h.Name, h.Zone, h.IP = vm.Name, vm.Zone, vm.IP
		}
		if (h.Name == "" || h.Name == "pending") && name != nil {
			h.Name = name(i)
		}
		h.State, h.Reason = hostState(w, i, vm)
		out = append(out, h)
	}
	return out
}

// hostState is host i's state and, when it is not ready, why (when known).
func hostState(w *Workshop, i int, vm *WorkshopVM) (string, string) {
	switch w.Status {
	case StatusProvisioning, StatusRunning:
	case StatusError:
		if i == 1 {
			return HostFailed, w.StatusReason
		}
	default:
		return HostStopped, ""
	}
	if vm == nil {
		return HostProvisioning, ""
	}
	reason := lastStepError(vm.Steps)
	switch vm.Status {
	case HostRunning:
		if i == 1 && w.Status != StatusRunning {
			return HostProvisioning, "" // host 1's seats are being created
		}
		return HostReady, ""
	case "failed":
		return HostFailed, reason
	case "unhealthy", "restarting", "recreating":
		return HostUnhealthy, reason
	}
	return HostProvisioning, reason // a failed try is retried
}

// lastStepError is the error of the last failed step, or "".
func lastStepError(steps []Step) string {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].Status == StepFailed && steps[i].Error != "" {
			return steps[i].Error
		}
	}
	return ""
}
