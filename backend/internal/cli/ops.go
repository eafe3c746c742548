package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/gce"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/open"
)

// opsUsage lists the operators' commands (shown in the main usage).
const opsUsage = `
Operations (add --json for machine-readable output; --help for flags):
  workshops list         workshops from the database, newest first
  workshops purge        permanently remove deleted workshops older than --older-than (--dry-run)
  hosts list WORKSHOP    a workshop's hosts: name, state (and why), seats, zone, IP
  archives list          saved copies of learners' work, newest first (--workshop ID)
  archives purge         delete a workshop's saved work (--workshop ID), or the expired (--expired)
  labs validate PATH     check a lab folder or archive; problems as FILE:LINE (no server needed)
  labs pack PATH -o F    convert a Killercoda/Instruqt/ClaraTeach lab into a ClaraTeach .tar.gz
  vms list               workshop VMs (name~clarateach-fc-ws) in GCP_ZONE, or --all-zones
  health [AGENT_URL]     an agent's /health, or every running workshop's agent
  gc                     delete orphaned workshop VMs and seats (--dry-run to preview)
  images list [AGENT]    OCI images in an agent's cache (or every running workshop's agent)
  images prune [AGENT]   remove cached images no seat runs on, unused for --unused-for (default 7 days)
  snapshots list         agent image snapshots, newest first
  snapshots create       stop the base VM, snapshot its disk, print FC_SNAPSHOT_NAME
  snapshots prune        delete old snapshots, keeping the newest --keep N
  quota                  CPU quota headroom of GCP_ZONE's region
`

// opFunc runs one operators' command with its own arguments.
type opFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// opGroup is a command with subcommands ("snapshots list").
type opGroup struct {
	summary string
	subs    map[string]opFunc
	order   []string // subcommands in usage order, with their one-line help
	help    map[string]string
}

var opsGroups = map[string]opGroup{
	"workshops": {
		summary: "workshops in the database",
		subs:    map[string]opFunc{"list": runWorkshopsList, "purge": runWorkshopsPurge},
		order:   []string{"list", "purge"},
		help: map[string]string{
			"list":  "list workshops, newest first",
			"purge": "permanently remove deleted workshops older than --older-than",
		},
	},
	"hosts": {
		summary: "the hosts of a workshop (one per SEATS_PER_HOST seats)",
		subs:    map[string]opFunc{"list": runHostsList},
		order:   []string{"list"},
		help:    map[string]string{"list": "list a workshop's hosts: name, state (and why), seats, zone, IP"},
	},
	"archives": {
		summary: "saved copies of learners' work",
		subs:    map[string]opFunc{"list": runArchivesList, "purge": runArchivesPurge},
		order:   []string{"list", "purge"},
		help: map[string]string{
			"list":  "list archives, newest first",
			"purge": "delete a workshop's archives (--workshop ID) or the expired ones (--expired)",
		},
	},
	"labs": {
		summary: "lab folders and archives, checked on this machine",
		subs:    map[string]opFunc{"validate": runLabsValidate, "pack": runLabsPack},
		order:   []string{"validate", "pack"},
		help: map[string]string{
			"validate": "check a lab folder or archive (ClaraTeach, Killercoda, Instruqt); problems as FILE:LINE",
			"pack":     "convert a lab into a ClaraTeach lab .tar.gz (what the server stores)",
		},
	},
	"vms": {
		summary: "workshop VMs on Compute Engine",
		subs:    map[string]opFunc{"list": runVMsList},
		order:   []string{"list"},
		help:    map[string]string{"list": "list workshop VMs (name~clarateach-fc-ws)"},
	},
	"images": {
		summary: "workshop environment images in agents' caches",
		subs:    map[string]opFunc{"list": runImagesList, "prune": runImagesPrune},
		order:   []string{"list", "prune"},
		help: map[string]string{
			"list":  "list the cached OCI images of an agent (or of every running workshop's agent)",
			"prune": "remove cached images not used for --unused-for that no seat runs on",
		},
	},
	"snapshots": {
		summary: "agent VM image snapshots",
		subs:    map[string]opFunc{"list": runSnapshotsList, "create": runSnapshotsCreate, "prune": runSnapshotsPrune},
		order:   []string{"list", "create", "prune"},
		help: map[string]string{
			"list":   "list snapshots, newest first",
			"create": "stop the base VM, snapshot its disk, start it again, print FC_SNAPSHOT_NAME",
			"prune":  "delete old snapshots, keeping the newest --keep N (never FC_SNAPSHOT_NAME)",
		},
	},
}

var opsSingles = map[string]opFunc{
	"health": runHealth,
	"gc":     runGC,
	"quota":  runQuota,
}

// runOps runs the operators' commands (workshops, vms, gc, snapshots,
// health, quota). It reports false when cmd is not one of them.
func runOps(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) (bool, error) {
	if fn, ok := opsSingles[cmd]; ok {
		return true, fn(ctx, args, stdout, stderr)
	}
	g, ok := opsGroups[cmd]
	if !ok {
		return false, nil
	}
	groupUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: clarateach %s <command> [flags]\n\n%s:\n", cmd, capitalize(g.summary))
		for _, s := range g.order {
			fmt.Fprintf(w, "  %-8s %s\n", s, g.help[s])
		}
		fmt.Fprintf(w, "\nRun 'clarateach %s <command> --help' for its flags.\n", cmd)
	}
	if len(args) == 0 {
		groupUsage(stderr)
		return true, fmt.Errorf("missing command (one of: %s)", strings.Join(g.order, ", "))
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		groupUsage(stdout)
		return true, flag.ErrHelp
	}
	fn, ok := g.subs[args[0]]
	if !ok {
		groupUsage(stderr)
		return true, fmt.Errorf("unknown command %q (one of: %s)", args[0], strings.Join(g.order, ", "))
	}
	return true, fn(ctx, args[1:], stdout, stderr)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ---------------------------------------------------------------------------
// flags

// opFlags is a command's flag set with the --json flag every command has.
type opFlags struct {
	*flag.FlagSet
	json bool
}

// newOpFlags makes the flag set of `clarateach <name>`; synopsis follows the
// name in the usage line and about explains the command.
func newOpFlags(name, synopsis, about string, stderr io.Writer) *opFlags {
	f := &opFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.SetOutput(stderr)
	f.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	f.Usage = func() {
		w := f.Output()
		fmt.Fprintf(w, "Usage: clarateach %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(about))
		f.PrintDefaults()
	}
	return f
}

// parse parses flags anywhere among the arguments (`health URL --token T`
// as well as `health --token T URL`) and returns the positional ones; it
// fails when there are more than maxArgs of them.
func (f *opFlags) parse(args []string, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			return nil, err
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) > maxArgs {
		f.Usage()
		return nil, fmt.Errorf("unexpected argument %q", pos[maxArgs])
	}
	return pos, nil
}

// ---------------------------------------------------------------------------
// output

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table writes aligned columns; call flush when done.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
		// A tab or newline inside a cell would break the columns.
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cells[i])
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// stamp formats a time for tables: UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// ---------------------------------------------------------------------------
// configuration, database and cloud

// opsConfig reads the configuration with the server's loader (environment,
// .env, Secret Manager), without server flags.
func opsConfig(ctx context.Context, stderr io.Writer) (*config.Config, error) {
	return loadConfigReadOnly(ctx, stderr)
}

// opsDatabase loads the configuration and opens its database, as the
// commands that read workshops need.
func opsDatabase(ctx context.Context, stderr io.Writer) (*config.Config, store.Store, error) {
	cfg, err := opsConfig(ctx, stderr)
	if err != nil {
		return nil, nil, err
	}
	st, err := openOpsStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// openOpsStore opens the configured database. Unlike the server it refuses
// to create a missing SQLite file: an operator in the wrong directory gets
// an error rather than an empty database.
func openOpsStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	engine, target, err := open.Parse(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if engine == open.SQLite {
		if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no database at %s: run this where the server runs (its DATA_DIR), or set DATABASE_URL", target)
		}
	}
	st, err := open.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database (%s): %w", open.Describe(cfg.DatabaseURL), err)
	}
	return st, nil
}

// requireGCP checks that the Google Cloud settings a command needs are set.
func requireGCP(cfg *config.Config) error {
	if cfg.GCPProject == "" {
		return errors.New("GCP_PROJECT is not set: this command talks to Compute Engine; set GCP_PROJECT and GCP_ZONE (environment or .env)")
	}
	if cfg.GCPZone == "" {
		return errors.New("GCP_ZONE is not set: this command needs the zone of the workshop VMs, e.g. GCP_ZONE=us-central1-b (environment or .env)")
	}
	return nil
}

// gcpClients opens the Compute clients (GCP_COMPUTE_ENDPOINT overrides the
// API endpoint; otherwise Application Default Credentials are used).
func gcpClients(ctx context.Context, cfg *config.Config) (*gce.Clients, error) {
	if err := requireGCP(cfg); err != nil {
		return nil, err
	}
	return gce.NewClients(ctx, cfg.GCPProject, cfg.ComputeEndpoint)
}

// withGCP loads the configuration, opens the Compute clients and runs fn.
func withGCP(ctx context.Context, stderr io.Writer, fn func(*config.Config, *gce.Clients) error) error {
	cfg, err := opsConfig(ctx, stderr)
	if err != nil {
		return err
	}
	c, err := gcpClients(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(cfg, c)
}
