package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

var workshopStatuses = []string{
	string(store.StatusCreated), string(store.StatusProvisioning), string(store.StatusRunning), string(store.StatusStopping),
	string(store.StatusStopped), string(store.StatusDeleted), string(store.StatusError),
}

// workshopRow is a workshop as `workshops list --json` prints it (no agent
// token, no lab guide).
type workshopRow struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Status       string     `json:"status"`
	DesiredState string     `json:"desired_state"`
	StatusReason string     `json:"status_reason,omitempty"`
	Step         string     `json:"step,omitempty"`
	Code         string     `json:"code"`
	Seats        int        `json:"seats"`
	SeatsUsed    int        `json:"seats_used"`
	Provisioner  string     `json:"provisioner,omitempty"`
	AgentURL     string     `json:"agent_url,omitempty"`
	OwnerID      string     `json:"owner_id"`
	StartsAt     *time.Time `json:"starts_at,omitempty"`
	EndsAt       *time.Time `json:"ends_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	DeletedAt    *time.Time `json:"deleted_at,omitempty"`
}

func runWorkshopsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("workshops list", "[--status S] [--limit N] [--all] [--json]", `
Lists workshops from the database (DATABASE_URL), newest first: the seed's
  SELECT id, name, status, created_at FROM workshops ORDER BY created_at DESC LIMIT 10;
LEARNERS is registered learners / seats. Deleted workshops are hidden unless
--all (or --status deleted) is given.`, stderr)
	status := f.String("status", "", "only workshops with this status ("+strings.Join(workshopStatuses, ", ")+")")
	limit := f.Int("limit", 10, "show at most N workshops (0 = no limit)")
	all := f.Bool("all", false, "include deleted workshops")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if *status != "" && !slices.Contains(workshopStatuses, *status) {
		return fmt.Errorf("--status must be one of %s, not %q", strings.Join(workshopStatuses, ", "), *status)
	}
	if *limit < 0 {
		return fmt.Errorf("--limit must be 0 (no limit) or more, not %d", *limit)
	}
	_, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()

	list, err := st.ListWorkshops(ctx, store.WorkshopFilter{IncludeDeleted: *all || *status == string(store.StatusDeleted)})
	if err != nil {
		return err
	}
	slices.SortStableFunc(list, func(a, b store.Workshop) int { return b.CreatedAt.Compare(a.CreatedAt) })
	rows := []workshopRow{}
	matched := 0
	for _, w := range list {
		if *status != "" && string(w.Status) != *status {
			continue
		}
		matched++
		if *limit > 0 && len(rows) >= *limit {
			continue
		}
		used, err := st.SeatsUsed(ctx, w.ID)
		if err != nil {
			return fmt.Errorf("workshop %s: %w", w.ID, err)
		}
		rows = append(rows, workshopRow{
			ID: w.ID, Name: w.Name, Status: string(w.Status), DesiredState: string(w.DesiredState), StatusReason: w.StatusReason,
			Step: string(w.Step), Code: w.Code, Seats: w.Seats, SeatsUsed: used, Provisioner: w.Provisioner,
			AgentURL: w.AgentURL, OwnerID: w.OwnerID, StartsAt: w.StartsAt, EndsAt: w.EndsAt,
			CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, DeletedAt: w.DeletedAt,
		})
	}
	if f.json {
		return writeJSON(stdout, map[string]any{"workshops": rows, "total": matched})
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No workshops.")
		return nil
	}
	t := newTable(stdout, "ID", "NAME", "STATUS", "DESIRED", "LEARNERS", "CODE", "CREATED", "NOTE")
	for _, r := range rows {
		note := r.StatusReason
		if note == "" && r.Step != "" {
			note = "step: " + r.Step
		}
		t.row(r.ID, truncate(r.Name, 32), r.Status, r.DesiredState, strconv.Itoa(r.SeatsUsed)+"/"+strconv.Itoa(r.Seats),
			r.Code, stamp(r.CreatedAt), truncate(note, 60))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if matched > len(rows) {
		fmt.Fprintf(stdout, "(%d of %d shown; --limit 0 shows all)\n", len(rows), matched)
	}
	return nil
}

// purgeRow is a workshop `workshops purge` removed (or would remove).
type purgeRow struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Result    string    `json:"result"` // purged | would purge | error: ...
}

func runWorkshopsPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("workshops purge", "[--older-than 168h] [--dry-run] [--json]", `
Permanently removes deleted workshops created before --older-than ago, with
their registrations, seats, host records and events: the seed's
  DELETE FROM sessions WHERE workshop_id IN (SELECT id FROM workshops WHERE status = 'deleted');
  DELETE FROM workshops WHERE status = 'deleted' AND created_at < NOW() - INTERVAL '7 days';
Only workshops whose teardown finished (status deleted) are touched.`, stderr)
	olderThan := f.Duration("older-than", 7*24*time.Hour, "only workshops created at least this long ago")
	dryRun := f.Bool("dry-run", false, "list what would be removed, remove nothing")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if *olderThan < 0 {
		return fmt.Errorf("--older-than must not be negative, not %s", *olderThan)
	}
	_, st, err := opsDatabase(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.ListWorkshops(ctx, store.WorkshopFilter{IncludeDeleted: true})
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-*olderThan)
	rows := []purgeRow{}
	failed := 0
	for _, w := range list {
		if w.Status != store.StatusDeleted || !w.CreatedAt.Before(cutoff) {
			continue
		}
		r := purgeRow{ID: w.ID, Name: w.Name, CreatedAt: w.CreatedAt, Result: "would purge"}
		if !*dryRun {
			r.Result = "purged"
			if err := st.PurgeWorkshop(ctx, w.ID); err != nil {
				r.Result, failed = "error: "+err.Error(), failed+1
			}
		}
		rows = append(rows, r)
	}
	if f.json {
		if err := writeJSON(stdout, map[string]any{"workshops": rows, "dry_run": *dryRun}); err != nil {
			return err
		}
	} else if len(rows) == 0 {
		fmt.Fprintf(stdout, "No deleted workshops created before %s.\n", stamp(cutoff))
	} else {
		t := newTable(stdout, "ID", "NAME", "CREATED", "RESULT")
		for _, r := range rows {
			t.row(r.ID, truncate(r.Name, 32), stamp(r.CreatedAt), r.Result)
		}
		if err := t.flush(); err != nil {
			return err
		}
		if *dryRun {
			fmt.Fprintf(stdout, "Dry run: %d workshops would be purged. Run without --dry-run to remove them.\n", len(rows))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d workshops could not be purged", failed, len(rows))
	}
	return nil
}
