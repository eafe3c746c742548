package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/clarateach/backend/internal/blob"
	"github.com/clarateach/backend/internal/controlplane/agentclient"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// Report counts what SaveAll did.
type Report struct {
	Saved, Unchanged, Failed int
	Bytes                    int64
}

func (r Report) String() string {
	return fmt.Sprintf("%d saved (%d bytes), %d unchanged, %d failed", r.Saved, r.Bytes, r.Unchanged, r.Failed)
}

// SaveAll archives the home of every seated learner of w's first host
// (every learner of a single-host workshop), a few at a time, and reports
// how it went; errors name the seats that failed.
func (a *Archiver) SaveAll(ctx context.Context, ag Agent, w *store.Workshop, reason string) (Report, error) {
	return a.SaveHost(ctx, ag, w, 1, reason)
}

// hostSeats are w's live seats placed on host (store.Workshop.HostOf).
func (a *Archiver) hostSeats(ctx context.Context, w *store.Workshop, host int) ([]store.Seat, error) {
	all, err := a.cfg.Store.ListSeats(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	var seats []store.Seat
	for _, st := range all {
		if w.HostOf(st.Seat) == host {
			seats = append(seats, st)
		}
	}
	return seats, nil
}

// SaveHost is SaveAll for the learners placed on host n of w, whose agent
// ag is.
func (a *Archiver) SaveHost(ctx context.Context, ag Agent, w *store.Workshop, n int, reason string) (Report, error) {
	seats, err := a.hostSeats(ctx, w, n)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	var errs []error
	a.eachSeat(seats, func(st store.Seat) func() {
		arc, err := a.SaveSeat(ctx, ag, w, st.Seat, st.RegistrationID, reason)
		return func() {
			switch {
			case err != nil:
				rep.Failed++
				errs = append(errs, err)
			case arc == nil:
				rep.Unchanged++
			default:
				rep.Saved++
				rep.Bytes += arc.SizeBytes
			}
		}
	})
	return rep, errors.Join(errs...)
}

// eachSeat runs work for every seat, at most Concurrency at a time, and
// then the function work returns, one at a time (it tallies the result).
func (a *Archiver) eachSeat(seats []store.Seat, work func(store.Seat) func()) {
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	sem := make(chan struct{}, a.cfg.Concurrency)
	for _, st := range seats {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			tally := work(st)
			mu.Lock()
			defer mu.Unlock()
			tally()
		}()
	}
	wg.Wait()
}

// Periodic runs SaveAll for a running workshop when Every has passed since
// its last periodic pass (in this process). It reports whether it ran.
func (a *Archiver) Periodic(ctx context.Context, ag Agent, w *store.Workshop) (bool, Report, error) {
	if a.cfg.Every < 0 {
		return false, Report{}, nil
	}
	now := a.cfg.Now()
	a.mu.Lock()
	last, seen := a.lastRun[w.ID]
	if !seen {
		// The first pass after a (re)start waits a full period: the
		// teardown and start paths save and restore on their own.
		a.lastRun[w.ID] = now
		a.mu.Unlock()
		return false, Report{}, nil
	}
	if now.Sub(last) < a.cfg.Every {
		a.mu.Unlock()
		return false, Report{}, nil
	}
	a.lastRun[w.ID] = now
	a.mu.Unlock()
	rep, err := a.SaveAll(ctx, ag, w, ReasonPeriodic)
	return true, rep, err
}

// RestoreAll puts each seated learner's latest archive into their seat,
// but only into a home that is empty (a seat whose home survived, on a
// restarted host or a kept directory, is newer than any archive). It
// returns how many homes it restored.
func (a *Archiver) RestoreAll(ctx context.Context, ag Agent, w *store.Workshop) (int, error) {
	return a.RestoreHost(ctx, ag, w, 1)
}

// RestoreHost is RestoreAll for the learners placed on host n of w (the
// first host: every learner of a single-host workshop).
func (a *Archiver) RestoreHost(ctx context.Context, ag Agent, w *store.Workshop, n int) (int, error) {
	seats, err := a.hostSeats(ctx, w, n)
	if err != nil {
		return 0, err
	}
	restored := 0
	var errs []error
	a.eachSeat(seats, func(st store.Seat) func() {
		ok, err := a.restoreSeat(ctx, ag, w, st)
		return func() {
			if err != nil {
				errs = append(errs, fmt.Errorf("restore seat %d: %w", st.Seat, err))
			} else if ok {
				restored++
			}
		}
	})
	return restored, errors.Join(errs...)
}

// RestoreSeat restores the latest archive of the learner who holds seat
// number seat into it, if its home is empty. It reports whether it did.
func (a *Archiver) RestoreSeat(ctx context.Context, ag Agent, w *store.Workshop, seat int) (bool, error) {
	seats, err := a.cfg.Store.ListSeats(ctx, w.ID)
	if err != nil {
		return false, err
	}
	for _, st := range seats {
		if st.Seat == seat {
			return a.restoreSeat(ctx, ag, w, st)
		}
	}
	return false, nil
}

func (a *Archiver) restoreSeat(ctx context.Context, ag Agent, w *store.Workshop, st store.Seat) (bool, error) {
	arc, err := a.cfg.Store.LatestArchive(ctx, st.RegistrationID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	body, err := a.cfg.Blobs.Get(ctx, arc.BlobKey)
	if err != nil {
		return false, err
	}
	defer body.Close()
	_, err = ag.RestoreSeat(ctx, w.ID, st.Seat, body, a.cfg.MaxBytes(w), true)
	if agentclient.IsNotEmpty(err) {
		return false, nil // the home is there already
	}
	if err != nil {
		return false, err
	}
	return true, a.cfg.Store.MarkArchiveRestored(ctx, arc.ID, a.cfg.Now())
}

// Latest opens the newest archive of a registration (store.ErrNotFound
// when there is none).
func (a *Archiver) Latest(ctx context.Context, registrationID string) (*store.Archive, io.ReadCloser, error) {
	arc, err := a.cfg.Store.LatestArchive(ctx, registrationID)
	if err != nil {
		return nil, nil, err
	}
	body, err := a.cfg.Blobs.Get(ctx, arc.BlobKey)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil, fmt.Errorf("archive %s: object gone: %w", arc.ID, store.ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	return arc, body, nil
}

// PurgeWorkshop deletes every archive of a workshop (objects and rows) and
// returns how many objects it removed.
func (a *Archiver) PurgeWorkshop(ctx context.Context, workshopID string) (int, error) {
	n, err := a.cfg.Blobs.DeletePrefix(ctx, Prefix(workshopID))
	if err != nil {
		return n, err
	}
	rows, err := a.cfg.Store.ListArchives(ctx, store.ArchiveFilter{WorkshopID: workshopID})
	if err != nil {
		return n, err
	}
	for _, r := range rows {
		if err := a.cfg.Store.DeleteArchive(ctx, r.ID); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Expire removes archives past the retention of workshops that are not
// running, and the objects of workshops that no longer exist (purged). It
// returns how many objects it removed.
func (a *Archiver) Expire(ctx context.Context) (int, error) {
	cut := a.cfg.Now().Add(-a.cfg.Retention)
	old, err := a.cfg.Store.ListArchives(ctx, store.ArchiveFilter{CreatedBefore: &cut})
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	live := map[string]bool{}
	for i := range old {
		wid := old[i].WorkshopID
		running, ok := live[wid]
		if !ok {
			w, err := a.cfg.Store.GetWorkshop(ctx, wid)
			running = err == nil && w.DesiredState == store.DesiredRunning
			live[wid] = running
		}
		if running {
			continue
		}
		if err := a.remove(ctx, &old[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	n, err := a.sweepOrphans(ctx)
	return removed + n, errors.Join(append(errs, err)...)
}

// sweepOrphans deletes the objects of workshops that are gone.
func (a *Archiver) sweepOrphans(ctx context.Context) (int, error) {
	objs, err := a.cfg.Blobs.List(ctx, "workshops/")
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	removed := 0
	for _, o := range objs {
		wid, _, _ := strings.Cut(strings.TrimPrefix(o.Key, "workshops/"), "/")
		if wid == "" || seen[wid] {
			continue
		}
		seen[wid] = true
		if _, err := a.cfg.Store.GetWorkshop(ctx, wid); !errors.Is(err, store.ErrNotFound) {
			continue
		}
		n, err := a.cfg.Blobs.DeletePrefix(ctx, Prefix(wid))
		removed += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// WriteWorkshopTar writes one .tar holding the newest archive of every
// learner of the workshop, named seat-NN-<email>.tar.gz (learners without
// a seat now: learner-<email>.tar.gz). It returns how many it wrote.
func (a *Archiver) WriteWorkshopTar(ctx context.Context, out io.Writer, workshopID string) (int, error) {
	regs, err := a.cfg.Store.ListRegistrations(ctx, workshopID)
	if err != nil {
		return 0, err
	}
	tw := tar.NewWriter(out)
	n := 0
	for _, reg := range regs {
		arc, body, err := a.Latest(ctx, reg.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		name := fmt.Sprintf("seat-%02d-%s.tar.gz", arc.Seat, safeName(reg.Email))
		err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: arc.SizeBytes, Mode: 0o644, ModTime: arc.CreatedAt})
		if err == nil {
			_, err = io.CopyN(tw, body, arc.SizeBytes)
		}
		body.Close()
		if err != nil {
			return n, fmt.Errorf("add %s: %w", name, err)
		}
		n++
	}
	return n, tw.Close()
}

// safeName keeps an email readable in a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' || r == '@' {
			return r
		}
		return '_'
	}, s)
}
