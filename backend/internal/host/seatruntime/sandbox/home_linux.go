package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

var _ seatruntime.HomeKeeper = (*Runtime)(nil)

// Stop implements seatruntime.HomeKeeper: it ends the seat like Destroy but
// keeps its directory (the learner's home), which the next Create of the
// same seat takes up again.
func (r *Runtime) Stop(ctx context.Context, s *seatruntime.Seat) error {
	ex, err := parseExtra(s)
	if err != nil {
		return err
	}
	r.kill(s, ex)
	err = r.cleanup(ctx, ex, s.Dir, false)
	if r.pool != nil {
		r.pool.poke()
	}
	return err
}

// Homes implements seatruntime.HomeKeeper: every <BaseDir>/<workshop>-<seat>
// directory that holds a home: home.img (a disk-limited home) or home/.
func (r *Runtime) Homes() ([]seatruntime.Home, error) {
	ents, err := os.ReadDir(r.cfg.BaseDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("sandbox: list homes: %w", err)
	}
	var out []seatruntime.Home
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		ws, n, ok := parseSeatKey(e.Name())
		if !ok {
			continue
		}
		if !hasHome(filepath.Join(r.cfg.BaseDir, e.Name())) {
			continue
		}
		out = append(out, seatruntime.Home{WorkshopID: ws, Seat: n})
	}
	return out, nil
}

// hasHome reports whether seat directory dir holds a learner's home.
func hasHome(dir string) bool {
	if fi, err := os.Stat(filepath.Join(dir, homeImage)); err == nil && fi.Mode().IsRegular() {
		return true
	}
	fi, err := os.Stat(filepath.Join(dir, "home"))
	return err == nil && fi.IsDir()
}

// RemoveHome implements seatruntime.HomeKeeper.
func (r *Runtime) RemoveHome(ctx context.Context, workshopID string, seat int) error {
	key, err := seatKey(seatruntime.Spec{WorkshopID: workshopID, Seat: seat})
	if err != nil {
		return err
	}
	dir := filepath.Join(r.cfg.BaseDir, key)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return removeSeatDir(dir)
}

// parseSeatKey splits a seat directory name "<workshop>-<seat>".
func parseSeatKey(name string) (string, int, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n <= 0 {
		return "", 0, false
	}
	ws := name[:i]
	if _, err := seatKey(seatruntime.Spec{WorkshopID: ws, Seat: n}); err != nil {
		return "", 0, false
	}
	return ws, n, true
}
