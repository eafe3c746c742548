package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/lab"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// Editing a workshop after it was created: PATCH /api/workshops/{id}
// changes what the body names and leaves the rest. Learners see a new
// guide or lab version on their next poll (GET .../live and .../lab carry
// its version) and keep their place: progress is kept by step id.

// optTime is a JSON time that tells "absent" from null: absent leaves the
// field as it is, null clears it.
type optTime struct {
	Set   bool
	Value *time.Time
}

func (o *optTime) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Value = nil
		return nil
	}
	var t time.Time
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	o.Value = &t
	return nil
}

// workshopPatch is the body of PATCH /api/workshops/{id}.
type workshopPatch struct {
	Name     *string `json:"name"`
	Seats    *int    `json:"seats"`
	LabGuide *string `json:"lab_guide"`
	Lab      *struct {
		LabID   string `json:"lab_id"`
		Version int    `json:"version"`
	} `json:"lab"`
	StartsAt optTime `json:"starts_at"`
	EndsAt   optTime `json:"ends_at"`
}

// handlePatchWorkshop edits a workshop: name, seats (1 to the server's
// MAX_SEATS, never below the seats learners hold), lab guide, lab version,
// start and end. Seats and schedule changes are checked against the
// owner's quota atomically with the owner's other workshops.
func (s *Server) handlePatchWorkshop(w http.ResponseWriter, r *http.Request) error {
	var req workshopPatch
	if err := apierror.Decode(w, r, &req, workshopBodyLimit); err != nil {
		return err
	}
	if err := s.validatePatch(&req); err != nil {
		return err
	}
	ws := workshopFrom(r.Context())
	var labRow *store.Lab
	var labParsed *lab.Lab
	if req.Lab != nil {
		var err error
		if labRow, labParsed, err = s.labForWorkshop(r.Context(), ws, req.Lab.LabID, req.Lab.Version); err != nil {
			return err
		}
	}
	now := s.now()
	q, limited, err := s.ownerQuota(r.Context(), ws)
	if err != nil {
		return err
	}
	var changes []string
	updated, err := s.st.UpdateWorkshopWithin(r.Context(), ws.ID, func(cur *store.Workshop, others store.Usage) error {
		wasRunning := cur.DesiredState == store.DesiredRunning
		c, err := s.applyPatch(r.Context(), cur, &req, now)
		if err != nil {
			return err
		}
		changes = c
		if limited {
			return checkPatchQuota(cur, others, q, wasRunning, &req, now)
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return apierror.NotFound("workshop not found")
	}
	if err != nil {
		return err
	}
	if labRow != nil {
		if err := s.st.SetWorkshopLab(r.Context(), ws.ID, labRow.ID, labRow.Version); err != nil {
			return err
		}
		changes = append(changes, fmt.Sprintf("lab %q version %d", labParsed.Title, labRow.Version))
		if took, what, err := s.takeLabSettings(r.Context(), ws.ID, labParsed); err != nil {
			return err
		} else if took != nil {
			updated = took
			changes = append(changes, what...)
		}
	}
	if len(changes) > 0 {
		s.event(r, ws.ID, "info", "", "workshop edited by "+userFrom(r.Context()).Email+": "+strings.Join(changes, ", "))
	}
	if req.Seats != nil || req.StartsAt.Set || req.EndsAt.Set {
		s.kick(ws.ID)
	}
	v, err := s.view(r, updated)
	if err != nil {
		return err
	}
	apierror.JSON(w, http.StatusOK, v)
	return nil
}

// validatePatch checks what can be checked without the workshop.
func (s *Server) validatePatch(req *workshopPatch) error {
	if req.Name == nil && req.Seats == nil && req.LabGuide == nil && req.Lab == nil && !req.StartsAt.Set && !req.EndsAt.Set {
		return apierror.Invalid("nothing to change: give name, seats, lab_guide, lab, starts_at or ends_at")
	}
	if req.Name != nil {
		name, err := cleanName(*req.Name, "name")
		if err != nil {
			return err
		}
		req.Name = &name
	}
	if req.Seats != nil && (*req.Seats < 1 || *req.Seats > s.maxSeats()) {
		return apierror.Invalid("seats must be between 1 and %d", s.maxSeats())
	}
	if req.LabGuide != nil && len(*req.LabGuide) > maxLabGuide {
		return apierror.TooLarge("lab_guide must be at most %d KiB", maxLabGuide>>10)
	}
	if req.Lab != nil && (req.Lab.LabID == "" || req.Lab.Version < 0) {
		return apierror.Invalid("lab.lab_id is required, and lab.version is 0 (the newest) or a version")
	}
	return nil
}

// applyPatch changes cur as req says and names what changed.
func (s *Server) applyPatch(ctx context.Context, cur *store.Workshop, req *workshopPatch, now time.Time) ([]string, error) {
	if cur.Status == store.StatusDeleted || cur.DesiredState == store.DesiredDeleted {
		return nil, apierror.Gone("this workshop has been deleted")
	}
	var changes []string
	if req.Name != nil && *req.Name != cur.Name {
		changes = append(changes, fmt.Sprintf("name %q", *req.Name))
		cur.Name = *req.Name
	}
	if req.Seats != nil && *req.Seats != cur.Seats {
		if *req.Seats < cur.Seats {
			if err := s.checkSeatsFree(ctx, cur.ID, *req.Seats); err != nil {
				return nil, err
			}
		}
		changes = append(changes, fmt.Sprintf("seats %d → %d", cur.Seats, *req.Seats))
		cur.Seats = *req.Seats
	}
	if req.LabGuide != nil && *req.LabGuide != cur.LabGuide {
		changes = append(changes, "lab guide")
		cur.LabGuide = *req.LabGuide
	}
	if req.StartsAt.Set || req.EndsAt.Set {
		start, end := cur.StartsAt, cur.EndsAt
		if req.StartsAt.Set {
			start = utc(req.StartsAt.Value)
		}
		if req.EndsAt.Set {
			end = utc(req.EndsAt.Value)
		}
		if err := checkSchedule(start, end, now); err != nil {
			return nil, err
		}
		cur.StartsAt, cur.EndsAt = start, end
		changes = append(changes, "schedule")
		// A workshop given a start time is provisioned ahead of it, as
		// one created with a schedule is.
		if start != nil && cur.Status == store.StatusCreated && cur.DesiredState == store.DesiredStopped {
			cur.DesiredState = store.DesiredRunning
			cur.Attempts, cur.NextAttemptAt = 0, nil
		}
	}
	return changes, nil
}

// checkSeatsFree refuses to lower a workshop's seats below what its
// learners hold: the registered learners, and the highest seat taken.
func (s *Server) checkSeatsFree(ctx context.Context, workshopID string, seats int) error {
	used, err := s.st.SeatsUsed(ctx, workshopID)
	if err != nil {
		return err
	}
	if used > seats {
		return apierror.Conflict("seats_in_use", "%d learners are registered in this workshop, so it cannot have fewer than %d seats; revoke learners first to lower it", used, used)
	}
	held, err := s.st.ListSeats(ctx, workshopID)
	if err != nil {
		return err
	}
	for _, st := range held {
		if st.Status != store.SeatRevoked && st.Seat > seats {
			return apierror.Conflict("seats_in_use", "seat %d is taken by a learner, so this workshop cannot have fewer than %d seats; revoke that learner first to lower it", st.Seat, st.Seat)
		}
	}
	return nil
}

// checkPatchQuota applies the owner's quota to an edited workshop: its
// seats fit the whole seat quota; one that becomes desired running (a
// start time given) passes the start checks; one already running keeps
// its seats and hours within the quota beside the owner's others.
func checkPatchQuota(ws *store.Workshop, others store.Usage, q store.Quota, wasRunning bool, req *workshopPatch, now time.Time) error {
	if req.Seats != nil {
		if err := checkSeatsQuota(ws.Seats, q); err != nil {
			return err
		}
	}
	if ws.DesiredState != store.DesiredRunning {
		return nil
	}
	if !wasRunning {
		return checkStart(ws, others, q, now)
	}
	if req.Seats != nil && others.Seats+ws.Seats > q.Seats {
		return quotaExceeded("seats quota: your other running workshops hold %d seats, this one would hold %d, and your quota is %d seats", others.Seats, ws.Seats, q.Seats)
	}
	if ws.EndsAt == nil || (!req.StartsAt.Set && !req.EndsAt.Set) {
		return nil
	}
	begin := now
	if ws.StartsAt != nil && ws.StartsAt.After(now) {
		begin = *ws.StartsAt
	}
	return checkHours(ws.EndsAt.Sub(begin), q)
}

// labForWorkshop loads a lab version a workshop may follow: the caller's,
// the workshop owner's, or any for an admin.
func (s *Server) labForWorkshop(ctx context.Context, ws *store.Workshop, labID string, version int) (*store.Lab, *lab.Lab, error) {
	row, l, err := s.parsedLab(ctx, labID, version)
	if err != nil {
		return nil, nil, err
	}
	if u := userFrom(ctx); row.OwnerID != u.ID && u.Role != store.RoleAdmin && row.OwnerID != ws.OwnerID {
		return nil, nil, apierror.NotFound("lab %s not found", labID)
	}
	return row, l, nil
}

// maxSeats is the most seats a workshop may have: MAX_SEATS, the one
// place the limit is set (the web app reads it from GET /api/auth/me).
func (s *Server) maxSeats() int { return s.cfg.MaxSeats }
