//go:build linux

package sandbox

// Warm seats: seats started ahead of demand, with no owner yet. Starting a
// seat costs ~15 ms of CPU (namespaces, mounts, a veth, two Go binaries);
// thirty at once on a small host take a few hundred milliseconds. Claiming
// a warm seat costs a rename, a few cgroup writes and one message to its
// init, which sets the hostname and the /etc files that name the seat.
//
// A warm seat also has its first shell running: the learner's login shell
// (a terminal session of its daemon) started when the seat was made, so
// that a claim hands over a prompt instead of starting a shell (the largest
// part of a claim's work: the learner wrapper's and bash's start-up). A
// shell reads the hostname once, at its start (bash's \h, $HOSTNAME), so
// each warm seat is made for a seat number, seat-1 .. seat-N, the numbers
// a workshop's seats are given (the lowest free one first), and a claim
// takes the warm seat of its own number when there is one. A seat claimed
// under another number gets its name from its init and its pre-started
// shell is ended: the agent starts the first shell then, as for a seat
// started from scratch.
//
// A warm seat lives in <BaseDir>/.warm-<id> (a workshop id cannot start
// with a dot) with a record, warm.json, beside its home; its cgroup keeps
// the .warm-<id> name for life (cgroup v2 cannot rename). Warm seats are
// never persisted by the agent: a new runtime removes the ones it finds.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

const (
	warmPrefix = ".warm-"
	warmRecord = "warm.json"
)

// errKeep means the warm seat cannot serve this claim but is still good.
var errKeep = errors.New("warm seat does not fit this seat")

// warmSeat is a ready, unclaimed seat and its init's open pipes.
type warmSeat struct {
	seat    *seatruntime.Seat
	ex      *extra
	cfgW    *os.File      // to the init: the claim
	stR     *os.File      // from the init: its answer
	status  *bufio.Reader // stR, buffered
	number  int           // the seat number it is named for (seat-N)
	shell   string        // its pre-started shell's terminal session ("": none)
	shellAt time.Time     // when that shell was started
	limits  limits        // its cgroup limits
	image   string        // the digest of the image it runs on ("": the host's root)
}

// warmShellMaxAge is how old a warm seat's pre-started shell may be to be
// handed over: the daemon ends a terminal session nobody attached to after
// an hour (terminal.DefaultIdleTimeout), so an older one may be gone, and
// the agent then starts the first shell instead.
var warmShellMaxAge = 45 * time.Minute

func (ws *warmSeat) closePipes() {
	ws.cfgW.Close()
	ws.stR.Close()
}

type warmPool struct {
	size  int
	delay time.Duration
	mu    sync.Mutex
	ready []*warmSeat   // ready to be claimed, at most size
	added chan struct{} // a seat was added to ready (never blocks; capacity 1)
	kick  chan struct{}
	// starting counts warm seats being started; startingNumber is the
	// number of the one the refiller is starting (0: none).
	starting       atomic.Int32
	startingNumber atomic.Int32
	last           atomic.Int64 // UnixNano of the last Create
	// image is what new warm seats run on (nil: the host's root), under mu.
	image *seatruntime.Image
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (p *warmPool) demand() { p.last.Store(time.Now().UnixNano()) }

// put adds a ready seat; false when the pool is full.
func (p *warmPool) put(ws *warmSeat) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ready) >= p.size {
		return false
	}
	p.ready = append(p.ready, ws)
	select {
	case p.added <- struct{}{}:
	default:
	}
	return true
}

// take removes and returns a ready seat, the one named for seat number
// when there is one; nil when none is ready.
func (p *warmPool) take(number int) *warmSeat {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ready) == 0 {
		return nil
	}
	i := len(p.ready) - 1
	for j, ws := range p.ready {
		if ws.number == number {
			i = j
			break
		}
	}
	ws := p.ready[i]
	p.ready = append(p.ready[:i], p.ready[i+1:]...)
	return ws
}

func (p *warmPool) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready)
}

// nextNumber is the seat number the next warm seat is made for: the lowest
// one that no ready seat and no seat being started has.
func (p *warmPool) nextNumber() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	used := map[int]bool{int(p.startingNumber.Load()): true}
	for _, ws := range p.ready {
		used[ws.number] = true
	}
	n := 1
	for used[n] {
		n++
	}
	return n
}

func (p *warmPool) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// startPool removes warm seats left by an earlier runtime and starts
// filling the pool.
func (r *Runtime) startPool() {
	r.removeLeftoverWarm()
	if r.cfg.WarmSeats <= 0 {
		return
	}
	delay := r.cfg.WarmRefillDelay
	if delay == 0 {
		delay = 300 * time.Millisecond
	}
	p := &warmPool{
		size:  r.cfg.WarmSeats,
		delay: max(delay, 0),
		added: make(chan struct{}, 1),
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	r.pool = p
	go r.refill()
	p.poke()
}

// WarmImage makes the warm seats run on img (nil: the host's root) from
// now on: the ready seats of another image are destroyed and the pool
// fills again with seats on img. The agent calls it when it has pulled a
// workshop's image, so that the class's seats are claimed, not started.
// With or without warm seats, it also makes the user namespaces of the
// next free uid ranges (prepareUserns), which a seat on an image needs,
// and keeps system layers made ahead for img's seats (layerpool_linux.go;
// those of another image are deleted).
func (r *Runtime) WarmImage(img *seatruntime.Image) {
	if img != nil {
		r.prepareUserns()
	}
	r.layers.setImage(imageDigest(img))
	p := r.pool
	if p == nil {
		return
	}
	p.mu.Lock()
	p.image = img
	var stale []*warmSeat
	keep := p.ready[:0]
	for _, ws := range p.ready {
		if ws.image == imageDigest(img) {
			keep = append(keep, ws)
		} else {
			stale = append(stale, ws)
		}
	}
	p.ready = keep
	p.mu.Unlock()
	for _, ws := range stale {
		r.destroyWarm(ws)
	}
	p.poke()
}

// imageDigest is img's digest, "" for the host's root.
func imageDigest(img *seatruntime.Image) string {
	if img == nil {
		return ""
	}
	return img.Digest
}

func (p *warmPool) currentImage() *seatruntime.Image {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.image
}

// WarmReady is the number of warm seats ready to be claimed.
func (r *Runtime) WarmReady() int {
	if r.pool == nil {
		return 0
	}
	return r.pool.count()
}

// Close stops the heartbeat, stops filling the pools, unmounts the blank
// homes (homepool_linux.go) and the system layers made ahead
// (layerpool_linux.go) and destroys the warm seats. Claimed seats are not
// touched: they outlive the runtime like any other seat (and end after
// OrphanTimeout unless a new runtime beats).
func (r *Runtime) Close() error {
	r.beat.stop()
	r.homes.close()
	r.layers.close()
	p := r.pool
	if p == nil {
		return nil
	}
	p.once.Do(func() { close(p.stop) })
	<-p.done
	for {
		ws := p.take(0)
		if ws == nil {
			return nil
		}
		r.destroyWarm(ws)
	}
}

// refill keeps the pool full, one seat at a time, and only once Creates
// have been quiet for the refill delay: a burst of claims is followed by
// the learners' shells starting, and they should have the CPU.
func (r *Runtime) refill() {
	p := r.pool
	defer close(p.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.stop
		cancel()
	}()
	var backoff time.Duration
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
		}
		for p.count() < p.size {
			wait := p.delay - time.Since(time.Unix(0, p.last.Load()))
			if wait = max(wait, backoff); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-p.stop:
					t.Stop()
					return
				case <-t.C:
				}
				backoff = 0
				continue
			}
			p.starting.Add(1)
			n := p.nextNumber()
			p.startingNumber.Store(int32(n))
			ws, err := r.startWarm(ctx, n)
			p.startingNumber.Store(0)
			p.starting.Add(-1)
			if errors.Is(err, seatruntime.ErrCapacity) {
				break // every slot is in use; a Destroy pokes us
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.log.Warn("could not start a warm seat; retrying", "err", err)
				backoff = 5 * time.Second
				continue
			}
			if ws.image != imageDigest(p.currentImage()) || !p.put(ws) { // of an image no longer warmed, or a claim put one back meanwhile: the pool is full
				r.destroyWarm(ws)
			}
		}
	}
}

// startWarm starts a warm seat named for seat number n, with its first
// shell.
func (r *Runtime) startWarm(ctx context.Context, n int) (*warmSeat, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	w := seatWant{key: warmPrefix + hex.EncodeToString(b[:]), seat: n, vcpus: r.cfg.VCPUs, mem: r.cfg.MemoryMB, pids: r.cfg.PidsMax, disk: r.diskFor(0, 0),
		image: r.pool.currentImage()}
	s, ws, err := r.start(ctx, w, true)
	if err != nil {
		return nil, err
	}
	ws.number, ws.limits, ws.image = n, w.limits(), imageDigest(w.image)
	rec, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(s.Dir, warmRecord), rec, 0o600); err != nil {
		r.destroyWarm(ws)
		return nil, fmt.Errorf("sandbox: warm seat record: %w", err)
	}
	ws.shell, ws.shellAt = r.startShell(ctx, s), time.Now()
	return ws, nil
}

// startShell starts the seat's first terminal session and waits (bounded)
// for its prompt; it returns the session's id, or "" when the daemon could
// not (one without terminal sessions, as in tests, answers 404): the
// claim then leaves the first shell to the agent.
func (r *Runtime) startShell(ctx context.Context, s *seatruntime.Seat) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://workspace/sessions", strings.NewReader(`{"wait_output_ms":3000}`))
	if err != nil {
		return ""
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := seatruntime.UnixClient(s.Address).Do(req)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("warm seat: start its first shell", "err", err)
		}
		return ""
	}
	defer resp.Body.Close()
	var info struct {
		ID string `json:"id"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&info)
	if resp.StatusCode != http.StatusCreated || err != nil || info.ID == "" {
		lvl := slog.LevelWarn
		if resp.StatusCode == http.StatusNotFound {
			lvl = slog.LevelDebug
		}
		r.log.Log(ctx, lvl, "warm seat: start its first shell", "status", resp.Status, "err", err)
		return ""
	}
	return info.ID
}

// endShell ends a warm seat's pre-started shell (claimed under another
// seat number, its prompt would show the wrong name).
func (r *Runtime) endShell(s *seatruntime.Seat, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, "http://workspace/sessions/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	resp, err := seatruntime.UnixClient(s.Address).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("end its pre-started shell: %s", resp.Status)
	}
	return nil
}

// claimWarm gives a warm seat to w. With wait, and none ready, it waits for
// one being started (Create found every slot taken). ok is false when no
// warm seat could be had; Create then starts one from scratch.
func (r *Runtime) claimWarm(ctx context.Context, w seatWant, wait bool) (*seatruntime.Seat, bool) {
	p := r.pool
	for {
		ws := p.take(w.seat)
		if ws == nil {
			if !wait || p.starting.Load() == 0 {
				return nil, false
			}
			if ws = r.awaitWarm(ctx, w.seat); ws == nil {
				return nil, false
			}
		}
		s, err := r.claim(ws, w)
		if err == nil {
			p.poke() // refill
			return s, true
		}
		if errors.Is(err, errKeep) {
			if !p.put(ws) {
				r.destroyWarm(ws)
			}
			return nil, false
		}
		r.log.Warn("warm seat unusable; discarding it", "seat", w.key, "err", err)
		r.destroyWarm(ws)
	}
}

// awaitWarm waits for a warm seat while one is being started; nil once
// none is (a start that fails, e.g. for want of a slot, sends nothing).
func (r *Runtime) awaitWarm(ctx context.Context, number int) *warmSeat {
	p := r.pool
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(r.cfg.ReadyTimeout)
	for {
		if ws := p.take(number); ws != nil {
			return ws
		}
		select {
		case <-p.added:
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if p.starting.Load() == 0 && p.count() == 0 || time.Now().After(deadline) {
				return nil
			}
		}
	}
}

// claim turns warm seat ws into seat w: its limits, its directory name, its
// slot's owner and (inside, through its init) its hostname.
func (r *Runtime) claim(ws *warmSeat, w seatWant) (*seatruntime.Seat, error) {
	t0 := time.Now()
	var timings []any
	mark := func(step string) {
		timings = append(timings, step, time.Since(t0).Round(10*time.Microsecond))
	}
	dir := filepath.Join(r.cfg.BaseDir, w.key)
	if len(filepath.Join(dir, "sock", sockName)) > 107 {
		return nil, errKeep // Create reports it
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil, errKeep // a kept home (KeepDirs): a fresh start uses it
	}
	if !sameDisk(ws.ex.Disk, w.disk) {
		return nil, errKeep // its home has another size
	}
	if ws.image != imageDigest(w.image) {
		return nil, errKeep // it runs on another root
	}
	if w.learnerRoot {
		return nil, errKeep // warm seats have an unprivileged learner
	}
	if !procinfo.Running(ws.seat.PID, ws.ex.StartTime) {
		return nil, errors.New("its init is gone")
	}
	mark("checked")
	if ws.ex.Cgroup != nil && r.cgroups != nil && w.limits() != ws.limits {
		if err := r.cgroups.setLimits(ws.ex.Cgroup, w.limits()); err != nil {
			return nil, err
		}
		ws.limits = w.limits()
	}
	mark("limits")
	if err := os.Rename(ws.seat.Dir, dir); err != nil {
		if errors.Is(err, os.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			return nil, errKeep
		}
		return nil, err
	}
	ws.seat.Dir = dir // from here on, destroyWarm finds it there
	if err := rekeySlot(filepath.Join(r.cfg.BaseDir, ".slots", strconv.Itoa(ws.ex.Slot)), w.key); err != nil {
		return nil, fmt.Errorf("slot: %w", err)
	}
	ws.ex.Key = w.key
	mark("renamed")

	if ws.number == w.seat {
		// Named for this seat already (hostname, /etc/hosts, /etc/hostname):
		// closing the pipes tells the init there is nothing to change.
		ws.closePipes()
	} else if err := r.rename(ws, w.seat); err != nil {
		return nil, err
	}
	mark("named")
	_ = os.Remove(filepath.Join(dir, warmRecord))
	raw, _ := json.Marshal(ws.ex)
	s := *ws.seat
	s.WorkshopID, s.Seat = w.workshop, w.seat
	s.VCPUs, s.MemoryMB = w.vcpus, w.mem
	s.Address = filepath.Join(dir, "sock", sockName)
	s.ShellReady = ws.shell != "" && ws.number == w.seat && time.Since(ws.shellAt) < warmShellMaxAge
	if ws.shell != "" && !s.ShellReady {
		// Its prompt names another seat, or it may have been reaped as
		// idle: the agent starts the first shell.
		if err := r.endShell(&s, ws.shell); err != nil {
			r.log.Warn("warm seat claimed under another number", "seat", w.key, "err", err)
		}
		mark("shell-ended")
	}
	s.CreatedAt = time.Now().UTC()
	s.Extra = raw
	r.log.Debug("warm seat claimed", append([]any{"seat", w.key, "pid", s.PID, "took", time.Since(t0).Round(10 * time.Microsecond)}, timings...)...)
	return &s, nil
}

// rekeySlot writes key, a claimed seat's, into its slot's file p in place
// of the warm seat's. Not with O_TRUNC (os.WriteFile): on ext4 a file
// truncated to zero and written again is flushed to the disk when it is
// closed (auto_da_alloc), a write-back started inside every claim. Cut to
// its first byte (the warm key's '.') before the write, the file never
// holds another seat's key, not even between the two calls.
func rekeySlot(p, key string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(1)
	if err == nil {
		_, err = f.WriteAt([]byte(key), 0)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// rename has a warm seat's init give it the name of seat number n: the
// hostname and the /etc files that carry it. Its pipes are closed after.
func (r *Runtime) rename(ws *warmSeat, n int) error {
	defer ws.closePipes()
	host := hostname(n)
	etc := r.etcFiles(host)
	msg := initClaim{Hostname: host, Etc: map[string]string{"/etc/hosts": etc["/etc/hosts"], "/etc/hostname": etc["/etc/hostname"]}}
	deadline := time.Now().Add(5 * time.Second)
	_ = ws.cfgW.SetWriteDeadline(deadline)
	_ = ws.stR.SetReadDeadline(deadline)
	if err := json.NewEncoder(ws.cfgW).Encode(&msg); err != nil {
		return fmt.Errorf("send claim: %w", err)
	}
	line, err := ws.status.ReadString('\n')
	if st := strings.TrimSpace(line); st != "ok" {
		if st == "" {
			st = fmt.Sprint("no answer: ", err)
		}
		return fmt.Errorf("seat init: %s", st)
	}
	return nil
}

// destroyWarm kills a warm seat (claimed half-way or not) and frees all it
// held.
func (r *Runtime) destroyWarm(ws *warmSeat) {
	ws.closePipes()
	if procinfo.Running(ws.seat.PID, ws.ex.StartTime) {
		_ = syscall.Kill(ws.seat.PID, syscall.SIGKILL)
	}
	if err := r.cleanup(context.Background(), ws.ex, ws.seat.Dir, true); err != nil {
		r.log.Warn("remove warm seat", "dir", ws.seat.Dir, "err", err)
	}
	if r.pool != nil {
		r.pool.poke()
	}
}

// removeLeftoverWarm removes the warm seats of an earlier runtime (an agent
// that crashed or was restarted): nobody holds their inits' pipes any more,
// so they can never be claimed.
func (r *Runtime) removeLeftoverWarm() {
	entries, err := os.ReadDir(r.cfg.BaseDir)
	if err != nil {
		return
	}
	ctx := context.Background()
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), warmPrefix) {
			continue
		}
		dir := filepath.Join(r.cfg.BaseDir, e.Name())
		var s seatruntime.Seat
		if b, err := os.ReadFile(filepath.Join(dir, warmRecord)); err == nil && json.Unmarshal(b, &s) == nil {
			if ex, err := parseExtra(&s); err == nil {
				if procinfo.Running(s.PID, ex.StartTime) {
					_ = syscall.Kill(s.PID, syscall.SIGKILL)
				}
				if err := r.cleanup(ctx, ex, dir, true); err != nil {
					r.log.Warn("remove leftover warm seat", "dir", dir, "err", err)
				}
				continue
			}
		}
		// It never got ready, so it left no record: find what it held by
		// its name.
		ex := &extra{Key: e.Name(), Slot: -1}
		if r.cgroups != nil {
			ex.Cgroup = r.cgroups.byName(e.Name())
		}
		if slots, err := os.ReadDir(filepath.Join(r.cfg.BaseDir, ".slots")); err == nil {
			for _, sl := range slots {
				b, _ := os.ReadFile(filepath.Join(r.cfg.BaseDir, ".slots", sl.Name()))
				if string(b) == e.Name() {
					ex.Slot, _ = strconv.Atoi(sl.Name())
					if r.network {
						ex.Veth = vethPrefix + sl.Name()
					}
				}
			}
		}
		if err := r.cleanup(ctx, ex, dir, true); err != nil {
			r.log.Warn("remove leftover warm seat", "dir", dir, "err", err)
		}
	}
}
