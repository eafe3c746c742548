//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/imagecache/imagetest"
	"github.com/clarateach/backend/internal/host/procinfo"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

// testImage pulls the busybox test image from an in-process registry into
// a cache and returns it as a seat's image.
func testImage(t *testing.T) *seatruntime.Image {
	t.Helper()
	return pullTestImage(t, imagetest.Image(t))
}

type realExec struct {
	ExitCode int    `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
}

// realSh runs script as the learner through the real daemon's /exec.
func realSh(t *testing.T, s *seatruntime.Seat, script string) realExec {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"script": script})
	resp, err := seatClient(s).Post("http://seat/exec", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res realExec
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exec %q: %s", script, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func mustSh(t *testing.T, s *seatruntime.Seat, script string) string {
	t.Helper()
	res := realSh(t, s, script)
	if res.ExitCode != 0 {
		t.Fatalf("seat sh %q: exit %d, stderr %s", script, res.ExitCode, res.Stderr)
	}
	return strings.TrimSpace(res.Stdout)
}

// TestSeatOnImage: a seat whose root is the test image. What the learner
// runs comes from the image, not the host; the learner writes outside
// the home into the seat's own layer, which another seat does not see;
// the image's files are owned inside the seat as in the image.
func TestSeatOnImage(t *testing.T) {
	for _, disk := range []int{64, -1} {
		t.Run(map[int]string{64: "disk limit", -1: "no disk limit"}[disk], func(t *testing.T) {
			testSeatOnImage(t, disk)
		})
	}
}

func testSeatOnImage(t *testing.T, disk int) {
	cfg := realDaemonConfig(t)
	cfg.DiskMB = disk
	img := testImage(t)
	r := newRuntime(t, cfg)
	a := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-img", Seat: 1, Image: img})
	b := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-img", Seat: 2, Image: img})

	if got := mustSh(t, a, "cat /etc/os-release"); got != strings.TrimSpace(imagetest.OSRelease) {
		t.Errorf("os-release in the seat = %q, want the image's", got)
	}
	if got := mustSh(t, a, "which cat; which clara-tool; clara-tool"); got != "/bin/cat\n/usr/bin/clara-tool\n"+imagetest.ToolOutput {
		t.Errorf("which/clara-tool = %q", got)
	}
	if got := mustSh(t, a, "id -u; id -un; echo $HOME; pwd; echo $SHELL; echo $CLARA_IMAGE; echo $PATH"); got != "1000\nlearner\n/home/learner\n/home/learner\n/bin/sh\ntest\n/usr/local/bin:/usr/bin:/bin" {
		t.Errorf("identity and environment = %q", got)
	}
	// Whiteouts of the image hold in the seat.
	if got := mustSh(t, a, "ls /opt/old /opt/old/sub; test -e /etc/removed-by-whiteout && echo there || echo gone"); got != "sub\n/opt/old/sub:\nnew\ngone" && got != "/opt/old:\nsub\n\n/opt/old/sub:\nnew\ngone" {
		t.Errorf("opaque dir and whiteout = %q", got)
	}
	// Owners: the image's root is the seat's root, uid 1234 stays 1234.
	if got := mustSh(t, a, "stat -c '%u:%g %U' /bin/busybox /srv/owned /etc/passwd"); got != "0:0 root\n1234:1234 UNKNOWN\n0:0 root" {
		t.Errorf("owners = %q", got)
	}
	// The image's passwd keeps its accounts and gains the seat's.
	if got := mustSh(t, a, "cut -d: -f1,3 /etc/passwd | sort | tr '\\n' ' '"); got != "clarateach:999 learner:1000 nobody:65534 root:0" {
		t.Errorf("passwd = %q", got)
	}
	// The learner writes outside the home (sticky /var/tmp), not into the
	// image's own files.
	mustSh(t, a, "echo mine > /var/tmp/installed")
	if got := mustSh(t, a, "cat /var/tmp/installed"); got != "mine" {
		t.Errorf("written file = %q", got)
	}
	if res := realSh(t, a, "echo x > /bin/cat"); res.ExitCode == 0 {
		t.Error("the learner overwrote /bin/cat")
	}
	if got := mustSh(t, b, "test -e /var/tmp/installed && echo seen || echo unseen"); got != "unseen" {
		t.Errorf("seat 2 sees seat 1's file: %s", got)
	}
	if _, err := os.Stat(filepath.Join(img.RootFS, "var/tmp/installed")); err == nil {
		t.Error("the learner's file landed in the image cache")
	}
	// The seat's layer has the seat's disk limit.
	if disk > 0 {
		res := realSh(t, a, "dd if=/dev/zero of=/var/tmp/big bs=1M count=100")
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "No space left") {
			t.Errorf("100 MiB into a 64 MiB seat's /var/tmp: exit %d, %s", res.ExitCode, res.Stderr)
		}
		mustSh(t, a, "rm /var/tmp/big")
	}
	// Nothing setuid, nothing from the host's root.
	if got := mustSh(t, a, "test -e /usr/bin/go && echo host || echo image; grep -c ' / overlay ' /proc/self/mounts; grep ' / ' /proc/self/mounts | grep -c nosuid"); got != "image\n1\n1" {
		t.Errorf("root = %q", got)
	}
}

// TestSeatOnImageKeepsItsLayer: stopping a seat keeps what the learner
// wrote outside the home, like the home; the next start has it.
func TestSeatOnImageKeepsItsLayer(t *testing.T) {
	cfg := realDaemonConfig(t)
	cfg.DiskMB = 64
	img := testImage(t)
	r := newRuntime(t, cfg)
	spec := seatruntime.Spec{WorkshopID: "ws-keep", Seat: 1, Image: img}
	s, err := r.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	mustSh(t, s, "echo kept > /var/tmp/kept; echo home > ~/h")
	if err := r.Stop(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	s = createSeat(t, r, spec)
	if got := mustSh(t, s, "cat /var/tmp/kept ~/h"); got != "kept\nhome" {
		t.Errorf("after a restart: %q", got)
	}
}

// TestDaemonMustBeStaticForImages: a dynamically linked daemon cannot run
// in an image's root (it needs the host's loader): seats on an image say
// so instead of exec's bare "no such file or directory".
func TestDaemonMustBeStaticForImages(t *testing.T) {
	for path, static := range map[string]bool{"/bin/ls": false, imagetest.Busybox: true} {
		if _, err := os.Stat(path); err != nil {
			t.Skip(err)
		}
		r := &Runtime{cfg: Config{DaemonPath: path}}
		err := r.daemonStatic()
		if static && err != nil {
			t.Errorf("%s: %v", path, err)
		}
		if !static && (err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0")) {
			t.Errorf("%s: %v, want the dynamic daemon named", path, err)
		}
	}
}

// readyWarm is the ready warm seats' init pids and the image each runs on.
func readyWarm(r *Runtime) map[int]string {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	out := map[int]string{}
	for _, ws := range r.pool.ready {
		out[ws.seat.PID] = ws.image
	}
	return out
}

// TestWarmSeatsOnAnImage: once told of an image (the agent does when it
// has pulled a workshop's), the warm seats are remade on it and a seat on
// that image is claimed from them, with the image's files; a seat on the
// host's root is then started from scratch.
func TestWarmSeatsOnAnImage(t *testing.T) {
	needRoot(t)
	cfg := realDaemonConfig(t)
	cfg.WarmSeats, cfg.WarmRefillDelay = 2, -1
	img := testImage(t)
	r := newWarmRuntime(t, cfg)
	waitWarm(t, r, 2)
	r.WarmImage(img)
	var warm map[int]string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		warm = readyWarm(r)
		if len(warm) == 2 && allEqual(warm, img.Digest) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("warm seats after WarmImage: %v, want 2 on %s", warm, img.Digest)
		}
	}
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-wimg", Seat: 1, Image: img})
	if _, ok := warm[s.PID]; !ok {
		t.Fatalf("seat pid %d is not one of the warm seats %v: started from scratch", s.PID, warm)
	}
	if got := mustSh(t, s, "cat /etc/os-release; hostname"); got != strings.TrimSpace(imagetest.OSRelease)+"\nseat-1" {
		t.Errorf("claimed seat on the image: %q", got)
	}
	warm = readyWarm(r)
	root := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-wroot", Seat: 2})
	if _, ok := warm[root.PID]; ok {
		t.Fatalf("a seat on the host's root was claimed from a warm seat on the image")
	}
	if got := mustSh(t, root, "cat /etc/os-release"); strings.Contains(got, "ClaraTeach test image") {
		t.Errorf("seat on the host's root shows the image: %q", got)
	}
}

func allEqual(m map[int]string, v string) bool {
	for _, x := range m {
		if x != v {
			return false
		}
	}
	return true
}

// TestImageSeatStartDoesNotCopyTheAgent: a seat on an image on a new uid
// slot must not fork the agent either. The user namespace its image's
// idmapped mount needs was made by a placeholder that the agent forked
// with CLONE_NEWUSER (no vfork: ~11 ms of the agent's CPU per seat, each
// page it wrote next a copy-on-write fault); it is made through the seat
// spawner's user-namespace variant, whose holder is reaped. The idmap
// still maps the image's root to the seat's root.
func TestImageSeatStartDoesNotCopyTheAgent(t *testing.T) {
	needRoot(t)
	cfg := realDaemonConfig(t)
	cfg.DiskMB = -1
	img := testImage(t)
	r := newRuntime(t, cfg)
	var s *seatruntime.Seat
	if n, pages := faultsAfter(t, func() {
		s = createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-img-spawn", Seat: 1, Image: img})
	}); n > pages/2 {
		t.Errorf("writing %d pages after an image seat's start took %d page faults: the start copied the agent", pages, n)
	}
	if got := mustSh(t, s, "stat -c '%u:%g' /bin/busybox /srv/owned"); got != "0:0\n1234:1234" {
		t.Errorf("owners in the image = %q", got)
	}
	if z := zombieChildren(t); len(z) > 0 {
		t.Errorf("unreaped children of the agent: %v", z)
	}
	if st, err := os.Stat(filepath.Join(cfg.BaseDir, usernsSpawnerName)); err != nil || st.Mode().Perm() != 0o500 {
		t.Errorf("user namespace spawner: %v, %v", st, err)
	}
}

// zombieChildren lists this process's exited, unreaped children.
func zombieChildren(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := procinfo.Stat(pid)
		if err != nil {
			continue
		}
		if st[1] == me && st[0] == "Z" {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestImageSeatsReuseMadeUserNamespaces: a seat on an image takes a free
// slot whose user namespace an earlier image seat made, instead of the
// next slot in rotation (whose namespace would be a new process): after an
// image seat ends and a seat on the host's root moves the rotation on, the
// next image seat has the first one's uid range. A seat on the host's root
// needs no namespace and keeps to the rotation.
func TestImageSeatsReuseMadeUserNamespaces(t *testing.T) {
	needRoot(t)
	cfg := realDaemonConfig(t)
	cfg.DiskMB = -1
	// Uid ranges are host-wide: another runtime on the host (a test package
	// running alongside) takes the lowest free ranges, so the image seat's
	// range, freed below, could be taken before the third seat asks for it.
	// Ranges this far up are reached by no runtime started from the default.
	cfg.UIDBase = 1<<30 + 8000*idRange
	img := testImage(t)
	r := newRuntime(t, cfg)
	ctx := context.Background()
	first := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-reuse", Seat: 1, Image: img})
	base := seatExtra(t, first).UIDBase
	if err := r.Destroy(ctx, first); err != nil {
		t.Fatal(err)
	}
	root := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-reuse", Seat: 2})
	if b := seatExtra(t, root).UIDBase; b == base {
		t.Fatalf("the seat on the host's root took the image seat's range %d (rotation expected)", b)
	}
	again := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-reuse", Seat: 3, Image: img})
	if b := seatExtra(t, again).UIDBase; b != base {
		t.Errorf("the second image seat has uid base %d, want %d: the range whose namespace is made", b, base)
	}
	if got := mustSh(t, again, "stat -c '%u:%g' /bin/busybox /srv/owned"); got != "0:0\n1234:1234" {
		t.Errorf("owners in the image = %q", got)
	}
}

// TestUsernsCacheMakesRangesAtOnce: the namespaces of two uid ranges are
// made at the same time (a burst of image seats waited on one maker at a
// time); two seats of one range share one.
func TestUsernsCacheMakesRangesAtOnce(t *testing.T) {
	var c usernsCache
	started := make(chan int, 2)
	release := make(chan struct{})
	var made atomic.Int32
	mk := func(base int) (*os.File, error) {
		made.Add(1)
		started <- base
		<-release
		return os.Open(os.DevNull)
	}
	got := make(chan *os.File, 3)
	for _, base := range []int{1 << 16, 2 << 16, 1 << 16} {
		go func() {
			f, err := c.get(base, mk)
			if err != nil {
				t.Error(err)
			}
			got <- f
		}()
	}
	deadline := time.After(10 * time.Second)
	for i := 0; i < 2; i++ {
		select {
		case <-started:
		case <-deadline:
			t.Fatal("the second range's namespace waited for the first's")
		}
	}
	close(release)
	files := map[*os.File]int{}
	for i := 0; i < 3; i++ {
		files[<-got]++
	}
	if made.Load() != 2 || len(files) != 2 {
		t.Errorf("%d namespaces made, %d distinct for 3 seats of 2 ranges", made.Load(), len(files))
	}
	if want := []int{1 << 16, 2 << 16}; !slices.Equal(c.ready(), want) {
		t.Errorf("ready = %v, want %v", c.ready(), want)
	}
	for f := range files {
		f.Close()
	}
}

// TestWarmImageMakesUserNamespacesAhead: when the agent has pulled a
// class's image (WarmImage), the user namespaces of the ranges the next
// seats take are made before the seats start, warm pool or not, and an
// image seat then starts on one of them.
func TestWarmImageMakesUserNamespacesAhead(t *testing.T) {
	needRoot(t)
	cfg := realDaemonConfig(t)
	cfg.DiskMB = -1
	cfg.MaxSeats = 3
	cfg.UIDBase = 1<<30 + 9000*idRange // ranges no other runtime reaches (see above)
	img := testImage(t)
	r := newRuntime(t, cfg)
	if got := r.userns.ready(); len(got) != 0 {
		t.Fatalf("namespaces made before any image: %v", got)
	}
	r.WarmImage(img)
	deadline := time.Now().Add(20 * time.Second)
	for len(r.userns.ready()) < cfg.MaxSeats {
		if time.Now().After(deadline) {
			t.Fatalf("after WarmImage, %d of %d namespaces made", len(r.userns.ready()), cfg.MaxSeats)
		}
		time.Sleep(10 * time.Millisecond)
	}
	made := r.userns.ready()
	s := createSeat(t, r, seatruntime.Spec{WorkshopID: "ws-ahead", Seat: 1, Image: img})
	if b := seatExtra(t, s).UIDBase; !slices.Contains(made, b) {
		t.Errorf("the image seat took uid base %d, not one of the made %v", b, made)
	}
	if got := r.userns.ready(); len(got) != len(made) {
		t.Errorf("the seat made another namespace: %v, was %v", got, made)
	}
}
