package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// What a learner's page polls besides the lab: the plain guide's version
// (the guide itself when it changed), the broadcast, and the instructors
// who have the learner's terminal open (the relay records them in the
// store, so every replica answers the same).

// guideVersion identifies a plain guide's text.
func guideVersion(guide string) string {
	if guide == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(guide))
	return hex.EncodeToString(sum[:8])
}

// handleLearnerLive answers api.LearnerLive for the seat's learner.
func (s *Server) handleLearnerLive(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.learnerLabSeat(r)
	if err != nil {
		return err
	}
	out := api.LearnerLive{WorkshopName: ls.ws.Name, GuideVersion: guideVersion(ls.ws.LabGuide), EndsAt: ls.ws.EndsAt}
	if out.GuideVersion != "" && r.URL.Query().Get("guide_version") != out.GuideVersion {
		guide := ls.ws.LabGuide
		out.Guide = &guide
	}
	s.deliverPushes(r.Context(), ls.ws, ls.reg, ls.seat)
	if wl, err := s.st.GetWorkshopLab(r.Context(), ls.ws.ID); err == nil {
		out.LabID, out.LabVersion = wl.LabID, wl.Version
		if out.Setup, err = s.labSetupOf(r.Context(), ls.ws, ls.reg, ls.seat, wl); err != nil {
			return err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if b, err := s.st.GetBroadcast(r.Context(), ls.ws.ID); err == nil {
		out.Broadcast = &api.Broadcast{Message: b.Message, At: b.At}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if out.Watchers, out.WatchedBy, out.Typing, err = s.watchersOf(r.Context(), ls.ws.ID, ls.seat); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	apierror.JSON(w, http.StatusOK, out)
	return nil
}

// watchersOf lists the instructors with the seat's terminal open, their
// names joined, and whether one of them may type.
func (s *Server) watchersOf(ctx context.Context, workshopID string, seat int) ([]api.Watcher, string, bool, error) {
	rows, err := s.st.ListWatchers(ctx, workshopID, seat, s.now().Add(-store.WatcherStale))
	if err != nil {
		return nil, "", false, err
	}
	out := []api.Watcher{}
	var names []string
	seen := map[string]bool{}
	typing := false
	for _, w := range rows {
		name := w.Name
		if name == "" {
			name = "An instructor"
		}
		out = append(out, api.Watcher{Name: name, Typing: w.Mode == store.WatchReadWrite, Since: w.Since})
		typing = typing || w.Mode == store.WatchReadWrite
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return out, strings.Join(names, ", "), typing, nil
}

// watcherTouchEvery is how often the relay refreshes an open instructor
// terminal's row (well inside store.WatcherStale).
const watcherTouchEvery = 30 * time.Second

// trackWatcher records an instructor's terminal on a seat for as long as
// the relay serves it; the returned func forgets it. A failure to record
// costs the learner the notice, never the instructor the terminal.
func (s *Server) trackWatcher(ctx context.Context, r *http.Request, wsID string, seat int, claims *authtoken.Claims) func() {
	mode := store.WatchReadWrite
	if claims.Role == "viewer" || r.URL.Query().Get("mode") == "ro" {
		mode = store.WatchReadOnly
	}
	wt := &store.Watcher{WorkshopID: wsID, Seat: seat, Name: claims.By, Mode: mode, Since: s.now()}
	if err := s.st.AddWatcher(ctx, wt); err != nil {
		s.log.WarnContext(ctx, "relay: record watcher", "workshop", wsID, "seat", seat, "err", err)
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(watcherTouchEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = s.st.TouchWatcher(context.WithoutCancel(ctx), wt.ID, s.now())
			}
		}
	}()
	return func() {
		close(done)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.st.RemoveWatcher(rctx, wt.ID); err != nil {
			s.log.WarnContext(rctx, "relay: forget watcher", "workshop", wsID, "seat", seat, "err", err)
		}
	}
}
