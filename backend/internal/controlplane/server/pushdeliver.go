package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/lab"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// Pushed files reach learners who were not seated when the instructor
// pushed them. Every push is kept in the store (pushed_files), and each
// learner's delivery of it is recorded (push_deliveries): claimed, then
// done once the file is in their home. A learner's workspace polls its live
// facts (GET …/live); that poll writes the pushes their home has not had
// yet, as the lab's setup does. A file is written once: a learner who
// deleted it does not get it back, unless the instructor pushes it again
// (a new push). A seat rebuilt after its deliveries (a new seat, its home
// empty unless the learner's archive was restored into it) gets them
// again, only into an empty home, together with the lab's files/ so the
// two never race for the empty home.

// pushCheckEvery is how often a learner's polls look in the store for
// pushes their home has not had (at once after a push through this
// replica).
const pushCheckEvery = 10 * time.Second

// pushStale is how long a delivery may stay claimed before it is taken
// for lost with its replica and claimed again.
const pushStale = 2 * time.Minute

// pushMemo is what this replica knows of one learner's deliveries.
type pushMemo struct {
	busy      bool      // a delivery runs now
	checkedAt time.Time // when the store was last asked
	gen       uint64    // pushDeliveries.gen then
	seatSeen  time.Time // when the seat's creation time was last compared
}

// pushDeliveries remembers, per registration, when its pushes were last
// looked at; gen counts the pushes made through this replica.
type pushDeliveries struct {
	mu  sync.Mutex
	m   map[string]*pushMemo
	gen uint64
}

// pushed notes a push made through this replica: every learner's next
// poll looks for it.
func (s *Server) pushed() {
	s.pushes.mu.Lock()
	s.pushes.gen++
	s.pushes.mu.Unlock()
}

// deliverPushes starts writing the pushes the learner's home has not had,
// when it is time to look (see pushCheckEvery); it does not wait.
func (s *Server) deliverPushes(ctx context.Context, ws *store.Workshop, regID string, seat int) {
	now := s.now()
	s.pushes.mu.Lock()
	if s.pushes.m == nil {
		s.pushes.m = map[string]*pushMemo{}
	}
	m, ok := s.pushes.m[regID]
	if !ok {
		m = &pushMemo{seatSeen: now}
		s.pushes.m[regID] = m
	}
	due := !m.busy && (!ok || m.gen != s.pushes.gen || now.Sub(m.checkedAt) >= pushCheckEvery)
	recheck := due && now.Sub(m.seatSeen) >= seatRecheckEvery
	if due {
		m.busy, m.checkedAt, m.gen = true, now, s.pushes.gen
		if recheck {
			m.seatSeen = now
		}
	}
	s.pushes.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushStale)
		defer cancel()
		if err := s.deliverPending(ctx, ws, regID, seat, recheck); err != nil {
			s.log.WarnContext(ctx, "pushed files: deliver", "workshop", ws.ID, "seat", seat, "err", err)
		}
		s.pushes.mu.Lock()
		m.busy = false
		s.pushes.mu.Unlock()
	}()
}

// deliverPending writes the learner's undelivered pushes into their home;
// recheck: also compare the seat's creation time with the last delivery,
// and deliver everything again into a rebuilt seat's empty home.
func (s *Server) deliverPending(ctx context.Context, ws *store.Workshop, regID string, seat int, recheck bool) error {
	rows, err := s.st.ListLearnerPushes(ctx, ws.ID, regID)
	if err != nil {
		return err
	}
	var pending, done []store.LearnerPush
	var last time.Time
	stale := s.now().Add(-pushStale)
	for _, p := range rows {
		switch {
		case p.Delivery == "" || (p.Delivery == store.DeliveryRunning && p.DeliveredAt.Before(stale)):
			pending = append(pending, p)
		case p.Delivery == store.DeliveryDone:
			done = append(done, p)
			if p.DeliveredAt.After(last) {
				last = *p.DeliveredAt
			}
		}
	}
	if len(pending) > 0 {
		_, err := s.deliverTo(ctx, ws, regID, seat, pending)
		return err
	}
	if !recheck || len(done) == 0 {
		return nil
	}
	ac, err := s.agentOf(ctx, ws, seat)
	if err != nil {
		return err
	}
	st, err := ac.GetSeat(ctx, ws.ID, seat)
	if err != nil || !st.CreatedAt.After(last) {
		return err
	}
	return s.redeliver(ctx, ws, regID, seat, done)
}

// deliverTo claims the pushes for the learner and writes the ones it
// claimed into their home in one archive (a later push to a path wins);
// it reports how many it wrote. A claim that fails to write is dropped,
// so the next poll tries again.
func (s *Server) deliverTo(ctx context.Context, ws *store.Workshop, regID string, seat int, pushes []store.LearnerPush) (int, error) {
	now := s.now()
	fs := lab.Files{}
	var claimed []string
	for _, p := range pushes {
		ok, err := s.st.ClaimPushDelivery(ctx, p.ID, regID, now, now.Add(-pushStale))
		if err != nil {
			s.dropClaims(ctx, claimed, regID)
			return 0, err
		}
		if !ok {
			continue
		}
		claimed = append(claimed, p.ID)
		full, err := s.st.GetPushedFile(ctx, p.ID)
		if err != nil {
			s.dropClaims(ctx, claimed, regID)
			return 0, err
		}
		fs[full.Path] = full.Content
	}
	if len(claimed) == 0 {
		return 0, nil
	}
	if err := s.writeHome(ctx, ws, seat, fs, false); err != nil {
		s.dropClaims(ctx, claimed, regID)
		return 0, err
	}
	return len(claimed), s.finishDeliveries(ctx, claimed, regID)
}

// redeliver writes the learner's delivered pushes, with the lab's files/,
// into a rebuilt seat's home if it is empty, and records them delivered
// again.
func (s *Server) redeliver(ctx context.Context, ws *store.Workshop, regID string, seat int, done []store.LearnerPush) error {
	fs, err := s.rebuiltHome(ctx, ws, regID, nil)
	if err != nil {
		return err
	}
	if err := s.writeHome(ctx, ws, seat, fs, true); err != nil {
		return err
	}
	ids := make([]string, len(done))
	for i, p := range done {
		ids[i] = p.ID
	}
	return s.finishDeliveries(ctx, ids, regID)
}

// rebuiltHome is what an empty home of a rebuilt seat gets: the lab's
// files/ (l, or the workshop's lab when nil), then the pushes delivered to
// the learner before, in order.
func (s *Server) rebuiltHome(ctx context.Context, ws *store.Workshop, regID string, l *lab.Lab) (lab.Files, error) {
	fs := lab.Files{}
	if l == nil {
		if _, wl, err := s.workshopLab(ctx, ws.ID); err == nil {
			l = wl
		}
	}
	if l != nil {
		for name, data := range l.Files {
			fs[name] = data
		}
	}
	rows, err := s.st.ListLearnerPushes(ctx, ws.ID, regID)
	if err != nil {
		return nil, err
	}
	for _, p := range rows {
		if p.Delivery != store.DeliveryDone {
			continue
		}
		full, err := s.st.GetPushedFile(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		fs[full.Path] = full.Content
	}
	return fs, nil
}

// writeHome unpacks fs into the seat's home as the learner; onlyIfEmpty:
// a home with anything in it is left alone (not an error).
func (s *Server) writeHome(ctx context.Context, ws *store.Workshop, seat int, fs lab.Files, onlyIfEmpty bool) error {
	if len(fs) == 0 {
		return nil
	}
	ac, err := s.agentOf(ctx, ws, seat)
	if err != nil {
		return err
	}
	archive, size, err := homeArchive(fs)
	if err != nil {
		return fmt.Errorf("pack the files: %w", err)
	}
	_, err = ac.RestoreSeat(ctx, ws.ID, seat, bytes.NewReader(archive), size+1, onlyIfEmpty)
	if onlyIfEmpty && agentclient.IsNotEmpty(err) {
		return nil
	}
	return err
}

func (s *Server) finishDeliveries(ctx context.Context, ids []string, regID string) error {
	now := s.now()
	var errs []error
	for _, id := range ids {
		errs = append(errs, s.st.FinishPushDelivery(ctx, id, regID, now))
	}
	return errors.Join(errs...)
}

// dropClaims forgets claimed deliveries that were not written.
func (s *Server) dropClaims(ctx context.Context, ids []string, regID string) {
	for _, id := range ids {
		if err := s.st.DeletePushDelivery(context.WithoutCancel(ctx), id, regID); err != nil {
			s.log.WarnContext(ctx, "pushed files: drop a claim", "registration", regID, "push", id, "err", err)
		}
	}
}
