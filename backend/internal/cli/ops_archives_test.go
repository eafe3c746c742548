package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

func TestArchivesListAndPurge(t *testing.T) {
	fx := setup(t, localMode)
	ctx := context.Background()
	now := time.Now().UTC()
	fx.workshop(t, "wsarc1", "Saved", store.StatusStopped, store.DesiredStopped, 2, now, nil)
	fx.workshop(t, "wsarc2", "Other", store.StatusStopped, store.DesiredStopped, 2, now, nil)
	for _, ws := range []string{"wsarc1", "wsarc2"} {
		reg, _, err := fx.st.Register(ctx, &store.Registration{WorkshopID: ws, Email: "l@" + ws + ".test"})
		if err != nil {
			t.Fatal(err)
		}
		key := "workshops/" + ws + "/" + reg.ID + "/a.tar.gz"
		p := filepath.Join(fx.dir, "archives", filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("work"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := fx.st.AddArchive(ctx, &store.Archive{WorkshopID: ws, RegistrationID: reg.ID, Seat: 1, BlobKey: key, SizeBytes: 4, Reason: "end"}); err != nil {
			t.Fatal(err)
		}
	}

	out := mustRun(t, "archives", "list")
	if !strings.Contains(out, "wsarc1") || !strings.Contains(out, "wsarc2") || !strings.Contains(out, "2 archives, 8 B") {
		t.Fatalf("archives list:\n%s", out)
	}
	got := decode[struct {
		Archives []archiveRow `json:"archives"`
	}](t, mustRun(t, "archives", "list", "--workshop", "wsarc1", "--json"))
	if len(got.Archives) != 1 || got.Archives[0].WorkshopID != "wsarc1" {
		t.Fatalf("archives list --workshop: %+v", got)
	}

	if _, _, code := run(t, "archives", "purge"); code == 0 {
		t.Fatal("archives purge without --workshop or --expired succeeded")
	}
	out = mustRun(t, "archives", "purge", "--workshop", "wsarc1")
	if !strings.Contains(out, "Deleted 1 archives") {
		t.Fatalf("purge: %s", out)
	}
	if _, err := os.Stat(filepath.Join(fx.dir, "archives", "workshops", "wsarc1")); !os.IsNotExist(err) {
		t.Fatalf("the purged workshop's objects are still there: %v", err)
	}
	left, _ := fx.st.ListArchives(ctx, store.ArchiveFilter{})
	if len(left) != 1 || left[0].WorkshopID != "wsarc2" {
		t.Fatalf("rows left: %+v", left)
	}
	// --expired with ARCHIVE_RETENTION=0: a stopped workshop keeps nothing.
	t.Setenv("ARCHIVE_RETENTION", "0")
	if out := mustRun(t, "archives", "purge", "--expired"); !strings.Contains(out, "Deleted 1 archives") {
		t.Fatalf("purge --expired: %s", out)
	}
	if out, errOut, code := run(t, "archives", "purge", "--help"); code != 0 || !strings.Contains(out+errOut, "-expired") {
		t.Fatalf("purge --help: exit %d\n%s%s", code, out, errOut)
	}
}
