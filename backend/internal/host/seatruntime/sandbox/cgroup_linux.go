//go:build linux

package sandbox

// Per-seat cgroups: memory, CPU and pids limits. cgroup v2 when
// /sys/fs/cgroup is the unified hierarchy, otherwise cgroup v1 (one
// hierarchy per controller). Only the limit hierarchies are joined (each v1
// join is a costly migration); the agent's systemd unit uses
// KillMode=process so that a restart does not kill seats still tracked in
// the unit's name=systemd cgroup.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// hierarchy is one mounted cgroup hierarchy the seat joins.
type hierarchy struct {
	mount  string   // mountpoint
	ctrls  []string // limit controllers handled here: memory, cpu, pids (none = membership only)
	parent string   // absolute directory of the seats' parent cgroup
}

// cgroupSet describes where seat cgroups go on this machine.
type cgroupSet struct {
	v2    bool
	hiers []hierarchy
}

type limits struct {
	memoryBytes int64
	cpuQuotaUS  int64 // per 100 ms period
	pidsMax     int
}

const cpuPeriodUS = 100000

// mountInfo lists (mountpoint, fstype, super options) of cgroup mounts.
type cgMount struct {
	point, fstype string
	opts          []string
}

func cgroupMounts() ([]cgMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []cgMount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, " - ")
		if i < 0 {
			continue
		}
		pre, post := strings.Fields(line[:i]), strings.Fields(line[i+3:])
		if len(pre) < 5 || len(post) < 3 {
			continue
		}
		if post[0] != "cgroup" && post[0] != "cgroup2" {
			continue
		}
		out = append(out, cgMount{point: unescapeMount(pre[4]), fstype: post[0], opts: strings.Split(post[2], ",")})
	}
	return out, sc.Err()
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroups maps a hierarchy key ("" for v2, else the comma-separated
// controller list as in /proc/self/cgroup, e.g. "cpu,cpuacct" or
// "name=systemd") to this process's path in it.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			m[parts[1]] = parts[2]
		}
	}
	return m, nil
}

// detectCgroups finds the hierarchies and the parent cgroup for seats.
// parent is absolute ("/clarateach") or, without a leading slash, relative
// to this process's own cgroup in each hierarchy.
func detectCgroups(parent string) (*cgroupSet, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	resolve := func(mount, key string) string {
		if strings.HasPrefix(parent, "/") {
			return filepath.Join(mount, parent)
		}
		return filepath.Join(mount, own[key], parent)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		h := hierarchy{mount: "/sys/fs/cgroup", ctrls: []string{"memory", "cpu", "pids"}}
		h.parent = resolve(h.mount, "")
		return &cgroupSet{v2: true, hiers: []hierarchy{h}}, nil
	}
	cs := &cgroupSet{}
	seen := map[string]bool{}
	for _, m := range mounts {
		if m.fstype != "cgroup" || seen[m.point] {
			continue
		}
		var ctrls, key []string
		for _, o := range m.opts {
			switch o {
			case "memory", "cpu", "pids":
				ctrls = append(ctrls, o)
				key = append(key, o)
			case "cpuacct", "cpuset", "devices", "freezer", "blkio", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc":
				key = append(key, o)
			default:
				if strings.HasPrefix(o, "name=") {
					key = append(key, o)
				}
			}
		}
		if len(ctrls) == 0 {
			continue
		}
		seen[m.point] = true
		cs.hiers = append(cs.hiers, hierarchy{mount: m.point, ctrls: ctrls, parent: resolve(m.point, strings.Join(key, ","))})
	}
	have := map[string]bool{}
	for _, h := range cs.hiers {
		for _, c := range h.ctrls {
			have[c] = true
		}
	}
	for _, c := range []string{"memory", "cpu", "pids"} {
		if !have[c] {
			return nil, fmt.Errorf("cgroup v1 controller %q is not mounted", c)
		}
	}
	return cs, nil
}

// prepare creates the parent cgroups and, on v2, enables the controllers
// for the seats below them.
func (cs *cgroupSet) prepare() error {
	for _, h := range cs.hiers {
		if err := os.MkdirAll(h.parent, 0o755); err != nil {
			return fmt.Errorf("cgroup parent: %w", err)
		}
		if cs.v2 {
			rel, err := filepath.Rel(h.mount, h.parent)
			if err != nil {
				return err
			}
			dir := h.mount
			for _, part := range append([]string{""}, strings.Split(rel, "/")...) {
				if part != "" && part != "." {
					dir = filepath.Join(dir, part)
				}
				if dir == h.parent {
					break
				}
				// Enable on every ancestor so that the next level down gets them.
				_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0o644)
			}
			if err := os.WriteFile(filepath.Join(h.parent, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0o644); err != nil {
				return fmt.Errorf("enable cgroup controllers in %s: %w", h.parent, err)
			}
		}
	}
	return nil
}

// seatCgroup is one seat's set of cgroup directories.
type seatCgroup struct {
	V2   bool     `json:"v2,omitempty"`
	Dirs []string `json:"dirs"`
	// LimitDirs are the directories holding limits (v1: memory, cpu, pids).
	LimitDirs []string `json:"limit_dirs"`
}

// create makes the seat's cgroups and writes its limits. A leftover empty
// cgroup of the same name is recreated; a busy one is an error.
func (cs *cgroupSet) create(name string, l limits) (*seatCgroup, error) {
	sc := &seatCgroup{V2: cs.v2}
	for _, h := range cs.hiers {
		dir := filepath.Join(h.parent, name)
		if err := os.Mkdir(dir, 0o755); errors.Is(err, os.ErrExist) {
			if n := len(cgroupProcs(dir)); n > 0 {
				sc.remove()
				return nil, fmt.Errorf("cgroup %s still holds %d processes (seat already running?)", dir, n)
			}
			_ = unix.Rmdir(dir)
			err = os.Mkdir(dir, 0o755)
			if err != nil {
				sc.remove()
				return nil, fmt.Errorf("cgroup: %w", err)
			}
		} else if err != nil {
			sc.remove()
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		sc.Dirs = append(sc.Dirs, dir)
		if len(h.ctrls) > 0 {
			sc.LimitDirs = append(sc.LimitDirs, dir)
		}
		for _, c := range h.ctrls {
			if err := writeLimit(dir, c, cs.v2, l); err != nil {
				sc.remove()
				return nil, err
			}
		}
	}
	return sc, nil
}

func writeLimit(dir, ctrl string, v2 bool, l limits) error {
	type kv struct {
		file, val string
		optional  bool
	}
	var w []kv
	switch {
	case ctrl == "memory" && v2:
		w = []kv{{"memory.max", strconv.FormatInt(l.memoryBytes, 10), false}, {"memory.swap.max", "0", true}}
	case ctrl == "memory":
		w = []kv{{"memory.limit_in_bytes", strconv.FormatInt(l.memoryBytes, 10), false},
			{"memory.memsw.limit_in_bytes", strconv.FormatInt(l.memoryBytes, 10), true}}
		// memsw may never be below the memory limit: when raising a
		// limit (a claimed warm seat), raise memsw first.
		if b, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes")); err == nil {
			if cur, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && l.memoryBytes > cur {
				w[0], w[1] = w[1], w[0]
			}
		}
	case ctrl == "cpu" && v2:
		w = []kv{{"cpu.max", fmt.Sprintf("%d %d", l.cpuQuotaUS, cpuPeriodUS), false}}
	case ctrl == "cpu":
		w = []kv{{"cpu.cfs_period_us", strconv.Itoa(cpuPeriodUS), false}, {"cpu.cfs_quota_us", strconv.FormatInt(l.cpuQuotaUS, 10), false}}
	case ctrl == "pids":
		w = []kv{{"pids.max", strconv.Itoa(l.pidsMax), false}}
	}
	for _, x := range w {
		err := os.WriteFile(filepath.Join(dir, x.file), []byte(x.val), 0o644)
		if err != nil && !(x.optional && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("cgroup %s=%s in %s: %w", x.file, x.val, dir, err)
		}
	}
	return nil
}

// setLimits rewrites the limits of a running seat's cgroups (a warm seat
// being claimed for a seat of another size).
func (cs *cgroupSet) setLimits(sc *seatCgroup, l limits) error {
	if len(sc.Dirs) == 0 {
		return nil
	}
	name := filepath.Base(sc.Dirs[0])
	for _, h := range cs.hiers {
		for _, c := range h.ctrls {
			if err := writeLimit(filepath.Join(h.parent, name), c, cs.v2, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// byName is the seat cgroup set called name, whether or not it exists
// (for sweeping a seat that never recorded its state).
func (cs *cgroupSet) byName(name string) *seatCgroup {
	sc := &seatCgroup{V2: cs.v2}
	for _, h := range cs.hiers {
		sc.Dirs = append(sc.Dirs, filepath.Join(h.parent, name))
		if len(h.ctrls) > 0 {
			sc.LimitDirs = append(sc.LimitDirs, filepath.Join(h.parent, name))
		}
	}
	return sc
}

// join moves pid (all its threads) into every seat cgroup.
func (sc *seatCgroup) join(pid int) error {
	for _, d := range sc.Dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("join cgroup %s: %w", d, err)
		}
	}
	return nil
}

func cgroupProcs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// procs lists the processes in the seat (from the first limit cgroup).
func (sc *seatCgroup) procs() []int {
	for _, d := range append(append([]string(nil), sc.LimitDirs...), sc.Dirs...) {
		if _, err := os.Stat(d); err == nil {
			return cgroupProcs(d)
		}
	}
	return nil
}

// kill SIGKILLs everything in the seat: cgroup.kill on v2, else each
// process listed in cgroup.procs (a pid listed there cannot be reused while
// it is listed).
func (sc *seatCgroup) kill() {
	if sc.V2 {
		for _, d := range sc.Dirs {
			if os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0o644) == nil {
				return
			}
		}
	}
	for _, p := range sc.procs() {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// remove deletes the seat's cgroups; missing ones are fine. It fails with
// EBUSY while processes remain.
func (sc *seatCgroup) remove() error {
	var first error
	for i := len(sc.Dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(sc.Dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) && first == nil {
			first = fmt.Errorf("remove cgroup %s: %w", sc.Dirs[i], err)
		}
	}
	return first
}
