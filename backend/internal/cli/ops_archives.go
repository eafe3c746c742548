package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// archiveRow is an archive as `archives list --json` prints it.
type archiveRow struct {
	ID             string     `json:"id"`
	WorkshopID     string     `json:"workshop_id"`
	RegistrationID string     `json:"registration_id"`
	Seat           int        `json:"seat"`
	SizeBytes      int64      `json:"size_bytes"`
	Reason         string     `json:"reason"`
	CreatedAt      time.Time  `json:"created_at"`
	RestoredAt     *time.Time `json:"restored_at,omitempty"`
	BlobKey        string     `json:"blob_key"`
}

func runArchivesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("archives list", "[--workshop ID] [--json]", `
Lists the saved copies of learners' work (archives of their homes), newest
first, from the database (DATABASE_URL). The objects are in ARCHIVE_BUCKET,
or ARCHIVE_DIR (default DATA_DIR/archives).`, stderr)
	ws := f.String("workshop", "", "only this workshop's archives")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	_, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.ListArchives(ctx, store.ArchiveFilter{WorkshopID: *ws})
	if err != nil {
		return err
	}
	rows := []archiveRow{}
	var total int64
	for _, a := range list {
		rows = append(rows, archiveRow{ID: a.ID, WorkshopID: a.WorkshopID, RegistrationID: a.RegistrationID, Seat: a.Seat,
			SizeBytes: a.SizeBytes, Reason: a.Reason, CreatedAt: a.CreatedAt, RestoredAt: a.RestoredAt, BlobKey: a.BlobKey})
		total += a.SizeBytes
	}
	if f.json {
		return writeJSON(stdout, map[string]any{"archives": rows, "total_bytes": total})
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No archives.")
		return nil
	}
	t := newTable(stdout, "WORKSHOP", "SEAT", "LEARNER", "SIZE", "REASON", "CREATED", "RESTORED")
	for _, r := range rows {
		restored := ""
		if r.RestoredAt != nil {
			restored = stamp(*r.RestoredAt)
		}
		t.row(r.WorkshopID, strconv.Itoa(r.Seat), r.RegistrationID, humanBytes(r.SizeBytes), r.Reason, stamp(r.CreatedAt), restored)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d archives, %s\n", len(rows), humanBytes(total))
	return nil
}

func runArchivesPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("archives purge", "(--workshop ID | --expired) [--json]", `
Deletes saved copies of learners' work, objects and rows:
  --workshop ID  every archive of one workshop, now (learners can no longer
                 download their work, and a restart of the workshop starts
                 from empty homes)
  --expired      what the server's garbage collection removes: archives older
                 than ARCHIVE_RETENTION of workshops that are not running, and
                 objects of workshops no longer in the database`, stderr)
	ws := f.String("workshop", "", "the workshop whose archives to delete")
	expired := f.Bool("expired", false, "delete archives past ARCHIVE_RETENTION")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if (*ws == "") == !*expired {
		return fmt.Errorf("give exactly one of --workshop ID and --expired")
	}
	cfg, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	arc, closeArc, err := newArchiver(ctx, cfg, st, nil)
	if err != nil {
		return err
	}
	defer closeArc()
	var n int
	if *ws != "" {
		if _, err := st.GetWorkshop(ctx, *ws); err != nil {
			return fmt.Errorf("workshop %s: %w", *ws, err)
		}
		n, err = arc.PurgeWorkshop(ctx, *ws)
	} else {
		n, err = arc.Expire(ctx)
	}
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(stdout, map[string]any{"deleted": n, "store": arc.Blobs().Describe()})
	}
	fmt.Fprintf(stdout, "Deleted %d archives from %s\n", n, arc.Blobs().Describe())
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
