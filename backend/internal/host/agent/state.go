package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

// stateDir is the agent's persistent state:
//
//	<dir>/seats/<workshop>.<seat>.json   one seatRecord per seat
//	<dir>/generations.json               {"<workshop>/<seat>": min_token_generation}
//
// Every file is written atomically (temp file, fsync, rename, fsync dir), so
// a crash leaves either the old or the new content, never a torn file.
//
// A seat file's temp file is a spare (seats/.spare-N), made ahead when the
// agent starts and made again from each deleted seat's file, not a file
// created for the write: on ext4 a new file costs an inode allocation,
// which scans past the inodes freed in the last seconds (a class's seats
// torn down, a warm seat's files) and was ~half the CPU of a seat file's
// write in a burst of creates. Spares are never read; loadSeats skips them.
type stateDir struct {
	dir string

	mu        sync.Mutex
	spares    []string // spare files in seats/, free to take
	maxSpares int      // spares kept at most (a deleted seat's file beyond them is removed)
	nextSpare int      // the number of the next spare's name
}

// sparePrefix names a spare seat file in seats/.
const sparePrefix = ".spare-"

// openStateDir opens (making it) the state directory dir, with spares
// spare seat files in it.
func openStateDir(dir string, spares int) (*stateDir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("agent: state dir: %w", err)
	}
	// Parents stay traversable (the sandbox's seats directory may be a
	// sibling that unprivileged seat uids must reach); the state dir itself
	// is private.
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("agent: state dir: %w", err)
	}
	if err := ensureDir(filepath.Join(abs, "seats")); err != nil {
		return nil, err
	}
	s := &stateDir{dir: abs, maxSpares: spares}
	if err := s.makeSpares(); err != nil {
		return nil, err
	}
	return s, nil
}

// makeSpares takes the spare seat files an earlier agent left, up to
// maxSpares (it removes the rest: that agent may have kept more), and
// makes more, up to maxSpares.
func (s *stateDir) makeSpares() error {
	ents, err := os.ReadDir(s.seatsDir())
	if err != nil {
		return fmt.Errorf("agent: read state dir: %w", err)
	}
	for _, e := range ents {
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), sparePrefix))
		if !strings.HasPrefix(e.Name(), sparePrefix) || err != nil || !e.Type().IsRegular() {
			continue
		}
		s.nextSpare = max(s.nextSpare, n+1)
		p := filepath.Join(s.seatsDir(), e.Name())
		if len(s.spares) < s.maxSpares {
			s.spares = append(s.spares, p)
		} else {
			_ = os.Remove(p) // an earlier agent's, of a larger host
		}
	}
	for len(s.spares) < s.maxSpares {
		p := s.newSpareName()
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("agent: state dir: %w", err)
		}
		f.Close()
		s.spares = append(s.spares, p)
	}
	return nil
}

// newSpareName is the path of a new spare; s.mu held (or s not shared yet).
func (s *stateDir) newSpareName() string {
	p := filepath.Join(s.seatsDir(), sparePrefix+strconv.Itoa(s.nextSpare))
	s.nextSpare++
	return p
}

// takeSpare takes a spare seat file ("" when there is none left).
func (s *stateDir) takeSpare() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.spares) == 0 {
		return ""
	}
	p := s.spares[len(s.spares)-1]
	s.spares = s.spares[:len(s.spares)-1]
	return p
}

// seatRecord is a seat file: what a restarted agent needs to find a seat
// again and reattach to it (or destroy it). Its JSON form is the state
// directory's format, kept stable across agent versions; recordOf and
// runtimeSeat convert from and to the runtime's seat.
type seatRecord struct {
	WorkshopID  string          `json:"workshop_id"`
	Seat        int             `json:"seat_id"`
	Runtime     string          `json:"runtime"`
	VCPUs       int             `json:"vcpus"`
	MemoryMB    int             `json:"memory_mb"`
	DiskMB      int             `json:"disk_mb,omitempty"`
	Image       string          `json:"image,omitempty"`
	LearnerRoot bool            `json:"learner_root,omitempty"`
	PID         int             `json:"pid,omitempty"`
	IP          string          `json:"ip,omitempty"`
	Dir         string          `json:"dir,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	Network     string          `json:"network"`
	Address     string          `json:"address"`
	Extra       json.RawMessage `json:"extra,omitempty"`
}

// recordOf is the seat file of a runtime's seat.
func recordOf(s *seatruntime.Seat) seatRecord {
	return seatRecord{
		WorkshopID: s.WorkshopID, Seat: s.Seat, Runtime: s.Runtime,
		VCPUs: s.VCPUs, MemoryMB: s.MemoryMB, DiskMB: s.DiskMB, Image: s.Image, LearnerRoot: s.LearnerRoot,
		PID: s.PID, IP: s.IP, Dir: s.Dir, CreatedAt: s.CreatedAt,
		Network: s.Network, Address: s.Address, Extra: s.Extra,
	}
}

// runtimeSeat is the runtime's seat a seat file describes.
func (r seatRecord) runtimeSeat() *seatruntime.Seat {
	return &seatruntime.Seat{
		WorkshopID: r.WorkshopID, Seat: r.Seat, Runtime: r.Runtime,
		VCPUs: r.VCPUs, MemoryMB: r.MemoryMB, DiskMB: r.DiskMB, Image: r.Image, LearnerRoot: r.LearnerRoot,
		PID: r.PID, IP: r.IP, Dir: r.Dir, CreatedAt: r.CreatedAt,
		Network: r.Network, Address: r.Address, Extra: r.Extra,
	}
}

func (s *stateDir) seatsDir() string { return filepath.Join(s.dir, "seats") }

func (s *stateDir) seatFile(k seatKey) string {
	return filepath.Join(s.seatsDir(), k.ws+"."+strconv.Itoa(k.seat)+".json")
}

// saveSeat persists seat atomically.
func (s *stateDir) saveSeat(seat *seatruntime.Seat) error {
	b, err := json.MarshalIndent(recordOf(seat), "", "  ")
	if err != nil {
		return fmt.Errorf("agent: encode seat: %w", err)
	}
	// Not synced to disk: the file must survive the agent (a crash, a
	// restart), which the page cache and the atomic rename ensure. A host
	// crash kills every seat anyway, and a restarted agent then marks
	// them dead whatever the file holds. Skipping two fsyncs per seat
	// keeps a burst of 30 creates from queueing on the disk.
	path := s.seatFile(seatKey{seat.WorkshopID, seat.Seat})
	b = append(b, '\n')
	if sp := s.takeSpare(); sp != "" {
		err := rewriteAndRename(sp, path, b)
		if err == nil {
			return nil
		}
		// A spare that would not take it (gone, unwritable): a new
		// temp file, as without spares.
		_ = os.Remove(sp)
	}
	return writeFileAtomic(path, b, false)
}

// rewriteAndRename writes data over the spare file sp (its old content, a
// deleted seat's, cut to data's length) and renames it to path: readers of
// path see the old or the new content, never a mix, as with writeFileAtomic.
// Not opened with O_TRUNC: on ext4 a file truncated to zero and written
// again is flushed to the disk when it is closed (auto_da_alloc).
func rewriteAndRename(sp, path string, data []byte) error {
	f, err := os.OpenFile(sp, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(sp, path)
	}
	if err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	return nil
}

// removeSeat removes seat k's file: it becomes a spare for the next seat's
// file while fewer than maxSpares are left.
func (s *stateDir) removeSeat(k seatKey) error {
	path := s.seatFile(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.spares) < s.maxSpares {
		sp := s.newSpareName()
		err := os.Rename(path, sp)
		if err == nil {
			s.spares = append(s.spares, sp)
			return nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("agent: remove seat state: %w", err)
	}
	return nil
}

// loadSeats reads every seat file. Leftover temp files are removed; files
// that cannot be read are renamed to *.bad (and logged) so they are kept for
// inspection but never loaded again.
func (s *stateDir) loadSeats(log *slog.Logger) ([]*seatruntime.Seat, error) {
	ents, err := os.ReadDir(s.seatsDir())
	if err != nil {
		return nil, fmt.Errorf("agent: read state dir: %w", err)
	}
	var out []*seatruntime.Seat
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(s.seatsDir(), name)
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			_ = os.Remove(p)
			continue
		case !strings.HasSuffix(name, ".json") || !e.Type().IsRegular():
			continue
		}
		b, err := os.ReadFile(p)
		var seat seatRecord
		if err == nil {
			err = json.Unmarshal(b, &seat)
		}
		if err == nil && (validWorkshopID(seat.WorkshopID) != nil || seat.Seat <= 0 ||
			name != seat.WorkshopID+"."+strconv.Itoa(seat.Seat)+".json") {
			err = errors.New("seat file does not match its name or holds an invalid seat")
		}
		if err != nil {
			log.Error("unreadable seat state file; moved aside", "file", p, "err", err)
			_ = os.Rename(p, p+".bad")
			continue
		}
		out = append(out, seat.runtimeSeat())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].WorkshopID != out[j].WorkshopID {
			return out[i].WorkshopID < out[j].WorkshopID
		}
		return out[i].Seat < out[j].Seat
	})
	return out, nil
}

// generationsFile holds each seat's lowest valid workspace-token generation.
// (An older agent kept whole-second revocation times in revocations.json;
// that file is no longer read.)
func (s *stateDir) generationsFile() string { return filepath.Join(s.dir, "generations.json") }

func (s *stateDir) loadGenerations() (map[seatKey]int64, error) {
	b, err := os.ReadFile(s.generationsFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: read token generations: %w", err)
	}
	var raw map[string]int64
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("agent: %s is corrupt: %w", s.generationsFile(), err)
	}
	out := make(map[seatKey]int64, len(raw))
	for k, v := range raw {
		ws, seatStr, ok := strings.Cut(k, "/")
		n, err := strconv.Atoi(seatStr)
		if !ok || err != nil {
			continue
		}
		out[seatKey{ws, n}] = v
	}
	return out, nil
}

func (s *stateDir) saveGenerations(m map[seatKey]int64) error {
	raw := make(map[string]int64, len(m))
	for k, v := range m {
		raw[k.String()] = v
	}
	b, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return fmt.Errorf("agent: encode token generations: %w", err)
	}
	// Synced: a revocation must outlive a host crash (a token revoked
	// before it must not work on the seat recreated after it).
	return writeFileAtomic(s.generationsFile(), append(b, '\n'), true)
}

// writeFileAtomic writes data to path via a temp file in the same
// directory and a rename: readers see the old or the new content, never a
// mix. With durable, the file and the directory are synced to disk too.
func writeFileAtomic(path string, data []byte, durable bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if durable {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("agent: write %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("agent: write %s: %w", path, err)
	}
	ok = true
	if !durable {
		return nil
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
