package storetest

import (
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

func testArchives(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "archives@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	other := mkWorkshop(t, s, u.ID, 3)
	r1 := register(t, s, w.ID, "a@example.com")
	r2 := register(t, s, w.ID, "b@example.com")
	ro := register(t, s, other.ID, "o@example.com")

	_, err := s.LatestArchive(ctx, r1.ID)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.AddArchive(ctx, &store.Archive{WorkshopID: w.ID, RegistrationID: "nosuchreg", Seat: 1, BlobKey: "k"}), store.ErrNotFound)

	t0 := time.Date(2026, 12, 4, 20, 0, 0, 123456000, time.UTC)
	mk := func(r *store.Registration, seat int, at time.Time, reason string) *store.Archive {
		a := &store.Archive{WorkshopID: r.WorkshopID, RegistrationID: r.ID, Seat: seat, BlobKey: "workshops/" + r.WorkshopID + "/" + r.ID + "/" + at.Format("150405") + ".tar.gz",
			SizeBytes: 5 << 30, Fingerprint: "fp-" + reason, Reason: reason, CreatedAt: at}
		must(t, s.AddArchive(ctx, a))
		if a.ID == "" {
			t.Fatal("AddArchive did not fill ID")
		}
		return a
	}
	a1 := mk(r1, 1, t0, "periodic")
	a2 := mk(r1, 1, t0.Add(5*time.Minute), "stop")
	b1 := mk(r2, 2, t0.Add(time.Minute), "periodic")
	mk(ro, 1, t0, "end")

	latest, err := s.LatestArchive(ctx, r1.ID)
	must(t, err)
	equal(t, "latest archive", *latest, *a2)

	all, err := s.ListArchives(ctx, store.ArchiveFilter{WorkshopID: w.ID})
	must(t, err)
	equal(t, "archives of the workshop, newest first", ids(all), []string{a2.ID, b1.ID, a1.ID})
	mine, err := s.ListArchives(ctx, store.ArchiveFilter{RegistrationID: r1.ID})
	must(t, err)
	equal(t, "archives of one registration", ids(mine), []string{a2.ID, a1.ID})
	before := t0.Add(2 * time.Minute)
	old, err := s.ListArchives(ctx, store.ArchiveFilter{WorkshopID: w.ID, CreatedBefore: &before})
	must(t, err)
	equal(t, "archives created before", ids(old), []string{b1.ID, a1.ID})

	at := t0.Add(time.Hour)
	must(t, s.MarkArchiveRestored(ctx, a2.ID, at))
	latest, err = s.LatestArchive(ctx, r1.ID)
	must(t, err)
	if latest.RestoredAt == nil || !latest.RestoredAt.Equal(at) {
		t.Fatalf("RestoredAt = %v, want %v", latest.RestoredAt, at)
	}
	wantErr(t, s.MarkArchiveRestored(ctx, "nosuch", at), store.ErrNotFound)

	must(t, s.DeleteArchive(ctx, a2.ID))
	must(t, s.DeleteArchive(ctx, a2.ID))
	latest, err = s.LatestArchive(ctx, r1.ID)
	must(t, err)
	equal(t, "latest after deleting the newest", latest.ID, a1.ID)

	// Purging the workshop takes its rows with it, and only its rows.
	_, err = s.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error {
		w.Status, w.DesiredState = store.StatusDeleted, store.DesiredDeleted
		return nil
	})
	must(t, err)
	must(t, s.PurgeWorkshop(ctx, w.ID))
	left, err := s.ListArchives(ctx, store.ArchiveFilter{})
	must(t, err)
	equal(t, "archives left after the purge", len(left), 1)
	equal(t, "the other workshop's archive", left[0].WorkshopID, other.ID)
}

func ids(as []store.Archive) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}
