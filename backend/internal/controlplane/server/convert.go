package server

import (
	"strings"

	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// The converters from store rows to API types (package api). Every field
// a client sees is named here: a row's secrets (password hashes, agent
// tokens and certificates, access codes, invite token hashes) and columns
// added later stay out unless a converter adds them.

func apiUser(u *store.User) api.User {
	return api.User{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt}
}

func apiQuota(q store.Quota) api.Quota {
	return api.Quota{RunningWorkshops: q.RunningWorkshops, Seats: q.Seats, WorkshopHours: q.WorkshopHours}
}

func apiQuotaPtr(q *store.Quota) *api.Quota {
	if q == nil {
		return nil
	}
	v := apiQuota(*q)
	return &v
}

func apiUsage(u store.Usage) api.Usage {
	return api.Usage{RunningWorkshops: u.RunningWorkshops, Seats: u.Seats}
}

// apiInvite is an invite with its status (pending, used or expired).
func apiInvite(inv *store.Invite, status string) api.Invite {
	return api.Invite{ID: inv.ID, Email: inv.Email, CreatedBy: inv.CreatedBy, CreatedAt: inv.CreatedAt,
		ExpiresAt: inv.ExpiresAt, UsedAt: inv.UsedAt, UsedBy: inv.UsedBy, Status: status}
}

func apiMember(m *store.Member) api.Member {
	return api.Member{WorkshopID: m.WorkshopID, UserID: m.UserID, Role: m.Role, Email: m.Email, Name: m.Name, CreatedAt: m.CreatedAt}
}

// apiWorkshop is a workshop with what the server adds: its seats in use and
// what the signed-in user is to it.
func apiWorkshop(w *store.Workshop, seatsUsed int, access string) api.Workshop {
	return api.Workshop{
		ID: w.ID, OwnerID: w.OwnerID, Name: w.Name, Code: w.Code,
		Seats: w.Seats, SeatsUsed: seatsUsed, Access: access,
		Status: string(w.Status), DesiredState: string(w.DesiredState), StatusReason: w.StatusReason, Step: string(w.Step),
		StartsAt: w.StartsAt, EndsAt: w.EndsAt, LabGuide: w.LabGuide, DiskMB: w.DiskMB,
		Environment: w.Environment, EnvironmentAuth: w.EnvironmentAuth != "", LearnerRoot: w.LearnerRoot,
		EgressAllow: strings.Fields(w.EgressAllow),
		Provisioner: w.Provisioner, AgentURL: w.AgentURL,
		Attempts: w.Attempts, NextAttemptAt: w.NextAttemptAt,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, DeletedAt: w.DeletedAt,
	}
}

func apiHost(vm *store.WorkshopVM) *api.Host {
	h := &api.Host{ID: vm.ID, WorkshopID: vm.WorkshopID, Name: vm.Name, Zone: vm.Zone, IP: vm.IP,
		Status: vm.Status, AgentURL: vm.AgentURL, CreatedAt: vm.CreatedAt, UpdatedAt: vm.UpdatedAt}
	for _, st := range vm.Steps {
		h.Steps = append(h.Steps, api.Step{Name: string(st.Name), Status: string(st.Status),
			StartedAt: st.StartedAt, FinishedAt: st.FinishedAt, Error: st.Error, Progress: st.Progress})
	}
	return h
}

func apiEvents(evs []store.Event) []api.Event {
	out := make([]api.Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, api.Event{ID: e.ID, WorkshopID: e.WorkshopID, At: e.At, Level: e.Level, Step: string(e.Step), Message: e.Message})
	}
	return out
}

func apiRegistrations(regs []store.RegistrationView) []api.Registration {
	out := make([]api.Registration, 0, len(regs))
	for _, r := range regs {
		out = append(out, api.Registration{ID: r.ID, WorkshopID: r.WorkshopID, Name: r.Name, Email: r.Email,
			CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt, Seat: r.Seat, SeatStatus: r.SeatStatus, LastActivity: r.LastActivity,
			OldCode: r.OldCode})
	}
	return out
}
