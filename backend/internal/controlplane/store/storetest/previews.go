package storetest

import (
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

func testPreviewShares(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "previews@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	other := mkWorkshop(t, s, u.ID, 3)

	wantErr(t, s.CreatePreviewShare(ctx, &store.PreviewShare{WorkshopID: "nosuch", Seat: 1, Port: 8000, SecretHash: "h"}), store.ErrNotFound)
	at := odd(0)
	a := &store.PreviewShare{WorkshopID: w.ID, Seat: 1, Port: 8000, Generation: 4, SecretHash: "hash-a", CreatedAt: at}
	must(t, s.CreatePreviewShare(ctx, a))
	if a.ID == "" {
		t.Fatal("CreatePreviewShare did not fill ID")
	}
	b := &store.PreviewShare{WorkshopID: w.ID, Seat: 1, Port: 5173, Generation: 4, SecretHash: "hash-b", CreatedAt: at.Add(time.Second)}
	must(t, s.CreatePreviewShare(ctx, b))
	must(t, s.CreatePreviewShare(ctx, &store.PreviewShare{WorkshopID: w.ID, Seat: 2, Port: 8000, SecretHash: "hash-c"}))
	must(t, s.CreatePreviewShare(ctx, &store.PreviewShare{WorkshopID: other.ID, Seat: 1, Port: 8000, SecretHash: "hash-d"}))

	got, err := s.GetPreviewShare(ctx, a.ID)
	must(t, err)
	want := *a
	want.CreatedAt = micro(at)
	equal(t, "get preview share", *got, want)
	_, err = s.GetPreviewShare(ctx, "nosuch")
	wantErr(t, err, store.ErrNotFound)

	list, err := s.ListPreviewShares(ctx, w.ID, 1)
	must(t, err)
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("seat 1's shares = %+v, want a then b", list)
	}
	// Only the seat's own share can be deleted through it.
	wantErr(t, s.DeletePreviewShare(ctx, w.ID, 2, a.ID), store.ErrNotFound)
	must(t, s.DeletePreviewShare(ctx, w.ID, 1, a.ID))
	wantErr(t, s.DeletePreviewShare(ctx, w.ID, 1, a.ID), store.ErrNotFound)
	_, err = s.GetPreviewShare(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound)

	for i := 0; i < store.MaxPreviewShares; i++ {
		must(t, s.CreatePreviewShare(ctx, &store.PreviewShare{WorkshopID: w.ID, Seat: 3, Port: 3000 + i, SecretHash: "h"}))
	}
	wantErr(t, s.CreatePreviewShare(ctx, &store.PreviewShare{WorkshopID: w.ID, Seat: 3, Port: 9999, SecretHash: "h"}), store.ErrFull)
}
