package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/lab"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/seat/files/confine"
)

// Pushing files into learners' homes: the instructor's "push a file to
// every seat", and a lab's files/ folder (labsetup.go). Both go to the
// agent as a small .tar.gz unpacked into the home by the seat's daemon, as
// the learner: the same path checks as the learner's own uploads, and a
// file the learner has at that path is replaced.

// maxPushFile bounds one pushed file.
const maxPushFile = 1 << 20

// pushParallel bounds the seats written at once.
const pushParallel = 8

// homeArchive packs files (paths relative to the home) as the .tar.gz the
// seat's restore takes: every entry under one top directory.
func homeArchive(fs lab.Files) ([]byte, int64, error) {
	top := lab.Files{}
	var size int64
	for name, data := range fs {
		top["home/"+name] = data
		size += int64(len(data))
	}
	b, err := top.TarGz()
	return b, size, err
}

// seatTarget is a learner's seat a push goes to.
type seatTarget struct {
	seat int
	reg  store.RegistrationView
}

// seatedLearners are the workshop's learners who hold a seat, by seat.
func seatedLearners(regs []store.RegistrationView) []seatTarget {
	var out []seatTarget
	for _, r := range regs {
		if r.RevokedAt == nil && r.Seat != nil {
			out = append(out, seatTarget{seat: *r.Seat, reg: r})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seat < out[j].seat })
	return out
}

// pushHome stores the push and writes it, with any earlier push a seat
// has not had, into each target's home, pushParallel at a time, and
// reports each seat. Each delivery is claimed first (a learner's own poll
// may be writing it); one that fails is dropped, so the learner's
// workspace writes it when the seat answers.
func (s *Server) pushHome(ctx context.Context, ws *store.Workshop, targets []seatTarget, p *store.PushedFile) ([]api.SeatPush, error) {
	if err := s.st.AddPushedFile(ctx, p); err != nil {
		return nil, err
	}
	s.pushed()
	out := make([]api.SeatPush, len(targets))
	sem := make(chan struct{}, pushParallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		out[i] = api.SeatPush{Seat: t.seat, RegistrationID: t.reg.ID, LearnerName: t.reg.Name}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := s.deliverPending(pctx, ws, t.reg.ID, t.seat, false); err != nil {
				out[i].Error = fmt.Sprintf("the file could not be written (it is written when the seat answers again): %v", err)
				return
			}
			out[i].OK = true
		}()
	}
	wg.Wait()
	return out, nil
}

// pushRequest is the body of POST /api/workshops/{id}/files.
type pushRequest struct {
	Path     string `json:"path"`
	Content  string `json:"content"`
	Encoding string `json:"encoding"` // "" (UTF-8 text) or "base64"
	Seat     int    `json:"seat"`     // 0: every seated learner; else that seat only
}

// handlePushFile writes one file into the home of every learner who holds a
// seat (or of the one at req.Seat), and reports each seat. A file already
// at that path is replaced.
func (s *Server) handlePushFile(w http.ResponseWriter, r *http.Request) error {
	var req pushRequest
	if err := apierror.Decode(w, r, &req, maxPushFile*4/3+8192); err != nil {
		return err
	}
	name, data, err := pushedFile(req)
	if err != nil {
		return err
	}
	ws := workshopFrom(r.Context())
	// The workshop must run (its first host answers the check).
	if _, err := s.agentOf(r.Context(), ws, 1); err != nil {
		return err
	}
	regs, err := s.st.ListRegistrations(r.Context(), ws.ID)
	if err != nil {
		return err
	}
	p := &store.PushedFile{WorkshopID: ws.ID, Path: name, Content: data, PushedBy: userFrom(r.Context()).Email}
	targets := seatedLearners(regs)
	if req.Seat != 0 {
		targets = slices.DeleteFunc(targets, func(t seatTarget) bool { return t.seat != req.Seat })
		if len(targets) == 0 {
			return apierror.NotFound("no learner holds seat %d", req.Seat)
		}
		p.RegistrationID = targets[0].reg.ID
	}
	results, err := s.pushHome(r.Context(), ws, targets, p)
	if err != nil {
		return err
	}
	out := api.PushResult{Path: name, Bytes: len(data), Seats: results}
	for _, p := range results {
		if p.OK {
			out.Written++
		} else {
			out.Failed++
		}
	}
	s.event(r, ws.ID, "info", "", fmt.Sprintf("%s pushed %s to %d seats (%d failed)", userFrom(r.Context()).Email, name, out.Written, out.Failed))
	apierror.JSON(w, http.StatusOK, out)
	return nil
}

// pushedFile checks a push request: a relative path inside the home, and at
// most maxPushFile bytes.
func pushedFile(req pushRequest) (string, []byte, error) {
	name, err := confine.Clean(strings.TrimSpace(req.Path))
	if err != nil || name == "." || name == "" {
		return "", nil, apierror.Invalid("path must be a file path inside the learner's home, like notes/step2.txt")
	}
	data := []byte(req.Content)
	switch req.Encoding {
	case "":
	case "base64":
		if data, err = base64.StdEncoding.DecodeString(req.Content); err != nil {
			return "", nil, apierror.Invalid("content is not valid base64: %v", err)
		}
	default:
		return "", nil, apierror.Invalid(`encoding must be "" (text) or "base64"`)
	}
	if req.Seat < 0 {
		return "", nil, apierror.Invalid("seat is 0 (every seat) or a seat number")
	}
	if len(data) > maxPushFile {
		return "", nil, apierror.TooLarge("a pushed file is at most %d KiB", maxPushFile>>10)
	}
	return name, data, nil
}
