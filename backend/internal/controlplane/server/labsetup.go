package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/lab"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// A lab's setup for one learner: its files/ folder copied into the
// learner's home, then its setup script run as the seat's own root (the
// seat init's root.sock, through the agent's exec with user root). It runs
// once per learner and lab version, claimed in the store (lab_setups) so two
// replicas never run it twice, and starts when the learner's workspace
// first asks for its live facts (GET …/live, at once when the page opens).
// A seat rebuilt after its setup ran (a new seat, its home maybe restored
// from the learner's archive) gets the setup script again, and the setups
// of the steps entered. files/ is copied over what the home has only for a
// learner who has not started the lab; else (a rebuilt seat, a new lab
// version mid-class) only into an empty home, so the learner's work stays.

// labSetupTimeout bounds the setup script (the agent's limit for a root
// script).
const labSetupTimeout = 2 * time.Minute

// labSetupStale is how old a setup still marked running may be before it
// is taken for lost with its replica and run again.
const labSetupStale = labSetupTimeout + 2*time.Minute

// seatRecheckEvery is how often a learner's finished setup is compared
// with their seat's creation time (one agent call per learner at most).
const seatRecheckEvery = 30 * time.Second

type setupKey struct {
	reg, lab string
	version  int
}

// setupMemo is what this replica knows of one learner's setup.
type setupMemo struct {
	row      store.LabSetup
	running  bool      // run by this replica now
	seatSeen time.Time // when the seat's creation time was last compared
}

// labSetups remembers setups, so that a learner's polls cost no store call
// once their setup finished.
type labSetups struct {
	mu sync.Mutex
	m  map[setupKey]*setupMemo
}

func setupJSON(ls store.LabSetup) *api.LabSetup {
	return &api.LabSetup{Status: ls.Status, Message: ls.Message, StartedAt: store.UTC(ls.StartedAt), FinishedAt: store.UTCPtr(ls.FinishedAt)}
}

// labSetupOf reports the learner's setup of lab version wl, starting it
// when it has not run: nil when the lab has nothing to set up.
func (s *Server) labSetupOf(ctx context.Context, ws *store.Workshop, regID string, seat int, wl *store.WorkshopLab) (*api.LabSetup, error) {
	_, l, err := s.parsedLab(ctx, wl.LabID, wl.Version)
	if err != nil {
		return nil, err
	}
	if !hasSetup(l) {
		return nil, nil
	}
	key := setupKey{regID, wl.LabID, wl.Version}
	s.setups.mu.Lock()
	if s.setups.m == nil {
		s.setups.m = map[setupKey]*setupMemo{}
	}
	if m, ok := s.setups.m[key]; ok {
		row := m.row
		if !m.running && s.now().Sub(m.seatSeen) > seatRecheckEvery {
			m.seatSeen = s.now()
			go s.recheckSeat(context.WithoutCancel(ctx), ws, seat, l, key)
		}
		s.setups.mu.Unlock()
		return setupJSON(row), nil
	}
	// Held while the store answers: this replica claims a setup once.
	m := &setupMemo{running: true, seatSeen: s.now()}
	s.setups.m[key] = m
	s.setups.mu.Unlock()

	ls := &store.LabSetup{RegistrationID: regID, WorkshopID: ws.ID, LabID: wl.LabID, Version: wl.Version}
	claimed, err := s.claimSetup(ctx, ls)
	if err != nil {
		s.forgetSetup(key)
		return nil, err
	}
	if claimed {
		s.setups.mu.Lock()
		m.row = *ls
		s.setups.mu.Unlock()
		go s.runLabSetup(context.WithoutCancel(ctx), ws, seat, l, ls, false)
		return setupJSON(*ls), nil
	}
	if ls.Status == store.SetupRunning { // another replica runs it: ask the store again next time
		s.forgetSetup(key)
		return setupJSON(*ls), nil
	}
	s.setups.mu.Lock()
	m.row, m.running = *ls, false
	s.setups.mu.Unlock()
	return setupJSON(*ls), nil
}

// claimSetup claims a setup, taking over one left running past
// labSetupStale (its replica stopped in the middle).
func (s *Server) claimSetup(ctx context.Context, ls *store.LabSetup) (bool, error) {
	for attempt := 0; attempt < 2; attempt++ {
		claimed, err := s.st.ClaimLabSetup(ctx, ls)
		if err != nil || claimed {
			return claimed, err
		}
		if ls.Status != store.SetupRunning || s.now().Sub(ls.StartedAt) < labSetupStale {
			return false, nil
		}
		if err := s.st.DeleteLabSetup(ctx, ls.RegistrationID, ls.LabID, ls.Version); err != nil {
			return false, err
		}
	}
	return false, nil
}

func (s *Server) forgetSetup(key setupKey) {
	s.setups.mu.Lock()
	delete(s.setups.m, key)
	s.setups.mu.Unlock()
}

// recheckSeat runs the setup again when the learner's seat was created
// after the setup started: a rebuilt seat lost what the setup script did
// outside the home.
func (s *Server) recheckSeat(ctx context.Context, ws *store.Workshop, seat int, l *lab.Lab, key setupKey) {
	ac, err := s.agentOf(ctx, ws, seat)
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := ac.GetSeat(cctx, ws.ID, seat)
	cancel()
	s.setups.mu.Lock()
	m, ok := s.setups.m[key]
	rebuilt := err == nil && ok && !m.running && st.CreatedAt.After(m.row.StartedAt)
	if rebuilt {
		m.running = true
	}
	s.setups.mu.Unlock()
	if !rebuilt {
		return
	}
	if err := s.st.DeleteLabSetup(ctx, key.reg, key.lab, key.version); err != nil {
		s.log.WarnContext(ctx, "lab setup: forget for a rebuilt seat", "workshop", ws.ID, "seat", seat, "err", err)
		s.forgetSetup(key)
		return
	}
	ls := &store.LabSetup{RegistrationID: key.reg, WorkshopID: ws.ID, LabID: key.lab, Version: key.version}
	claimed, err := s.st.ClaimLabSetup(ctx, ls)
	if err != nil || !claimed {
		s.forgetSetup(key)
		return
	}
	s.setups.mu.Lock()
	m.row = *ls
	s.setups.mu.Unlock()
	s.runLabSetup(ctx, ws, seat, l, ls, true)
}

// runLabSetup copies the lab's files into the seat's home and runs its
// setup script as the seat's root, and records the result. again: the seat
// was rebuilt.
func (s *Server) runLabSetup(ctx context.Context, ws *store.Workshop, seat int, l *lab.Lab, ls *store.LabSetup, again bool) {
	ctx, cancel := context.WithTimeout(ctx, labSetupTimeout+time.Minute)
	defer cancel()
	keepHome := again
	if !again {
		// A learner who has worked on a lab (an earlier version's) keeps
		// their home: files/ goes only into an empty one.
		rows, err := s.st.ListProgress(ctx, ws.ID, ls.RegistrationID)
		keepHome = err != nil || workedOn(rows)
	}
	err := s.setUpSeat(ctx, ws, seat, ls.RegistrationID, l, keepHome)
	if err == nil && again {
		err = s.replaySteps(ctx, ws, seat, l, ls.RegistrationID)
	}
	now := s.now()
	ls.Status, ls.Message, ls.FinishedAt = store.SetupDone, "The lab is set up.", &now
	if err != nil {
		ls.Status, ls.Message = store.SetupFailed, err.Error()
	}
	if ferr := s.st.FinishLabSetup(ctx, ls); ferr != nil {
		s.log.WarnContext(ctx, "lab setup: record", "workshop", ws.ID, "seat", seat, "err", ferr)
	}
	s.setups.mu.Lock()
	if m, ok := s.setups.m[setupKey{ls.RegistrationID, ls.LabID, ls.Version}]; ok {
		m.row, m.running, m.seatSeen = *ls, false, now
	}
	s.setups.mu.Unlock()
	if err != nil {
		_ = s.st.AddEvent(ctx, &store.Event{WorkshopID: ws.ID, Level: "warn", Message: "seat " + strconv.Itoa(seat) + ": the lab's setup failed: " + err.Error()})
	}
}

// hasSetup: the lab has files to copy, or a setup script (its own or a
// step's).
func hasSetup(l *lab.Lab) bool {
	if l.Setup != "" || len(l.Files) > 0 {
		return true
	}
	for _, st := range l.Steps {
		if st.Setup != "" {
			return true
		}
	}
	return false
}

// replaySteps runs again, in the lab's order, the setups of the steps the
// learner has entered: a rebuilt seat is brought back to where they are.
func (s *Server) replaySteps(ctx context.Context, ws *store.Workshop, seat int, l *lab.Lab, regID string) error {
	rows, err := s.st.ListProgress(ctx, ws.ID, regID)
	if err != nil {
		return err
	}
	for _, p := range sortedSteps(l, rows) {
		if st, ok := l.Step(p.StepID); ok && st.Setup != "" {
			if err := s.stepSetup(ctx, ws, seat, st); err != nil {
				return err
			}
		}
	}
	return nil
}

// workedOn reports whether a learner checked or finished any step.
// Entering a step is not work: the guide enters the step it opens on,
// often before the poll that starts the lab's setup, and that learner's
// home must still get the lab's files/.
func workedOn(rows []store.Progress) bool {
	for _, p := range rows {
		if p.CheckedAt != nil || p.DoneAt != nil {
			return true
		}
	}
	return false
}

// setUpSeat does the work of runLabSetup; its error is the sentence the
// learner and the instructor see.
// keepHome: files/ is copied only into an empty home.
// An empty home also gets the files pushed to the learner before
// (pushdeliver.go), so a rebuilt seat's home gets both at once.
func (s *Server) setUpSeat(ctx context.Context, ws *store.Workshop, seat int, regID string, l *lab.Lab, keepHome bool) error {
	ac, err := s.agentOf(ctx, ws, seat)
	if err != nil {
		return errors.New("the workshop's machine is not ready")
	}
	fs := l.Files
	if keepHome && len(fs) > 0 {
		if fs, err = s.rebuiltHome(ctx, ws, regID, l); err != nil {
			return fmt.Errorf("the lab's files could not be gathered: %w", err)
		}
	}
	if err := s.writeHome(ctx, ws, seat, fs, keepHome); err != nil {
		return fmt.Errorf("the lab's files could not be copied into the home: %w", err)
	}
	if l.Setup == "" {
		return nil
	}
	res, err := ac.Exec(ctx, ws.ID, seat, agentclient.ExecRequest{Script: l.Setup, TimeoutMS: int(labSetupTimeout / time.Millisecond), User: "root"})
	return scriptError("the lab's setup script", res, err)
}

// stepSetup runs a step's setup script as the seat's root; its error is
// the sentence the learner sees on the step.
func (s *Server) stepSetup(ctx context.Context, ws *store.Workshop, seat int, step lab.Step) error {
	ac, err := s.agentOf(ctx, ws, seat)
	if err != nil {
		return errors.New("the step's setup did not run: the workshop's machine is not ready")
	}
	ctx, cancel := context.WithTimeout(ctx, labSetupTimeout+10*time.Second)
	defer cancel()
	res, err := ac.Exec(ctx, ws.ID, seat, agentclient.ExecRequest{Script: step.Setup, TimeoutMS: int(labSetupTimeout / time.Millisecond), User: "root"})
	if err = scriptError("the step's setup script", res, err); err != nil {
		_ = s.st.AddEvent(ctx, &store.Event{WorkshopID: ws.ID, Level: "warn", Message: "seat " + strconv.Itoa(seat) + ": " + err.Error()})
	}
	return err
}

// scriptError says why a root script did not succeed, or nil.
func scriptError(what string, res *agentclient.ExecResult, err error) error {
	var ae *agentclient.Error
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotImplemented:
		return fmt.Errorf("%s did not run: this host's seats cannot run scripts as root", what)
	case err != nil:
		return fmt.Errorf("the seat did not run %s: %w", what, err)
	case res.TimedOut:
		return fmt.Errorf("%s did not finish within %s", what, labSetupTimeout)
	case res.ExitCode != 0:
		return fmt.Errorf("%s failed (exit %d): %s", what, res.ExitCode, firstLines(res.Stderr+res.Stdout, 3))
	}
	return nil
}
