// Command images-bench measures workshop environments (OCI images) on this
// machine: the pull and unpack of a ~100 MB image from an in-process
// registry into a fresh host cache, and seat ready time for a burst of
// sandbox seats on the cached image against the same burst on the host's
// root, in the same run, taking turns. It prints figures; it asserts
// nothing. Root only (unpacking keeps the image's owners; seats on an
// image need idmapped mounts). See README.md beside this file.
//
//	cd backend && sudo go run ./bench/images [--seats 30] [--runs 3] [--mb 100]
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/clarateach/backend/bench/internal/cputime"
	"github.com/clarateach/backend/bench/internal/machine"
	"github.com/clarateach/backend/bench/internal/seatbins"
	"github.com/clarateach/backend/internal/host/agent"
	"github.com/clarateach/backend/internal/host/imagecache"
	"github.com/clarateach/backend/internal/host/seatruntime"
)

func main() {
	seats := flag.Int("seats", 30, "seats per burst")
	runs := flag.Int("runs", 3, "pulls, and bursts per side")
	mb := flag.Int("mb", 100, "size of the image's data layer in MB (random bytes: incompressible)")
	warmup := flag.Bool("warmup", true, "start one burst per side first, not counted in the ratios (each side's one-time costs, e.g. disk templates)")
	steps := flag.Bool("phases", false, "print each burst's p50 time per seat start step (the sandbox's debug timings)")
	flag.Parse()
	machine.Print()
	if err := run(*seats, *runs, *mb, benchOpts{warmup: *warmup, phases: *steps}); err != nil {
		fmt.Fprintln(os.Stderr, "images-bench:", err)
		os.Exit(1)
	}
}

// benchOpts are the seat bursts' options.
type benchOpts struct {
	warmup bool // one uncounted burst per side first
	phases bool // print the per-step p50s of each burst
}

func run(seats, runs, mb int, o benchOpts) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: unpacking keeps the image's owners, and seats on an image need idmapped mounts")
	}
	work, err := os.MkdirTemp("", "ct-images-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	ref, err := pushImage(mb)
	if err != nil {
		return err
	}
	im, err := benchPulls(ref, work, runs)
	if err != nil {
		return err
	}
	return benchSeats(im, work, seats, runs, o)
}

// pushImage serves a registry in this process and pushes the bench image:
// static busybox as /bin/sh, and a layer of mb MB of random data.
func pushImage(mb int) (string, error) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", fmt.Errorf("the image needs a static busybox (apt-get install busybox-static): %w", err)
	}
	base, err := layer(map[string][]byte{"bin/busybox": bb}, map[string]string{"bin/sh": "busybox", "bin/cat": "busybox", "bin/ls": "busybox"})
	if err != nil {
		return "", err
	}
	data := map[string][]byte{}
	for i := 0; i < mb; i++ {
		b := make([]byte, 1<<20)
		_, _ = rand.Read(b)
		data[fmt.Sprintf("opt/data/%03d.bin", i)] = b
	}
	big, err := layer(data, nil)
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, base, big)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	r, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/bench/data:1")
	if err != nil {
		return "", err
	}
	return r.String(), remote.Write(r, img)
}

// layer is a gzipped tar layer of files and symlinks (name → target).
func layer(files map[string][]byte, links map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
		for n := range links {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		if d := filepath.Dir(n); !dirs[d] {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				return nil, err
			}
		}
		if t, ok := links[n]; ok {
			if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: t, Mode: 0o777}); err != nil {
				return nil, err
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(files[n]))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// benchPulls pulls ref into a fresh cache runs times, then once more into
// the last cache (a cached image: no layer is fetched), and returns the
// last pull.
func benchPulls(ref, work string, runs int) (*imagecache.Image, error) {
	var im *imagecache.Image
	var c *imagecache.Cache
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 1; i <= runs; i++ {
		dir := filepath.Join(work, fmt.Sprintf("cache-%d", i))
		var err error
		if c, err = imagecache.New(imagecache.Config{Dir: dir, MinFreeBytes: 1 << 30, Logger: quiet}); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if im, err = c.Pull(context.Background(), ref, imagecache.Auth{}, nil); err != nil {
			return nil, err
		}
		d := time.Since(t0)
		fmt.Printf("pull %d (fresh cache): %.1f MB download, %.1f MB unpacked in %s: %.0f MB/s downloaded, %.0f MB/s unpacked\n",
			i, float64(im.Download)/1e6, float64(im.Bytes)/1e6, d.Round(time.Millisecond), float64(im.Download)/1e6/d.Seconds(), float64(im.Bytes)/1e6/d.Seconds())
		if i < runs {
			_ = os.RemoveAll(dir)
		}
	}
	t0 := time.Now()
	if _, err := c.Pull(context.Background(), ref, imagecache.Auth{}, nil); err != nil {
		return nil, err
	}
	fmt.Printf("pull again (cached): %s\n", time.Since(t0).Round(time.Microsecond))
	return im, nil
}

// benchSeats starts bursts of seats on the host's root and on the image,
// taking turns, and prints each burst's ready p50 and p99.
func benchSeats(im *imagecache.Image, work string, seats, runs int, o benchOpts) error {
	// Without gcc every seat gets the Go init, as on such a host.
	bins, err := seatbins.Build(context.Background(), work, seatbins.Options{})
	if err != nil {
		return err
	}
	fmt.Printf("seat inits: %s\n", bins.Inits)
	state := filepath.Join(work, "agent")
	steps := &phases{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.phases {
		logger = slog.New(steps)
	}
	rt, err := agent.NewRuntime("sandbox", agent.RuntimeOptions{StateDir: state, SeatsDir: filepath.Join(work, "seats"),
		DaemonCommand: []string{bins.Daemon}, NoNetwork: true, Capacity: seats, Logger: logger})
	if err != nil {
		return err
	}
	if c, ok := rt.(io.Closer); ok {
		defer c.Close()
	}
	img := &seatruntime.Image{Digest: im.Digest, RootFS: im.RootFS, Env: im.Config.Env}
	if err := warmImage(rt, img, seats); err != nil {
		return err
	}
	fmt.Printf("seat ready, %d seats at once, sandbox, no warm seats, no seat network, the default disk limit (ext4 home; on the image, an ext4 system layer too):\n", seats)
	var p50s, cpus [2][]time.Duration
	first := 1
	if o.warmup {
		first = 0 // run 0: the warm-up, printed, not in the ratios
	}
	for i := first; i <= runs; i++ {
		for side, image := range []*seatruntime.Image{nil, img} {
			if err := refillLayers(rt, seats); err != nil {
				return err
			}
			cpu0 := cpuTime()
			lat, err := burst(rt, fmt.Sprintf("b%d%d", i, side), seats, image)
			if err != nil {
				return err
			}
			cpu := (cpuTime() - cpu0) / time.Duration(seats)
			what := "host root"
			if image != nil {
				what = "image    "
			}
			label := fmt.Sprintf("run %d", i)
			if i == 0 {
				label = "warm-up"
			} else {
				p50s[side] = append(p50s[side], lat[len(lat)/2])
				cpus[side] = append(cpus[side], cpu)
			}
			fmt.Printf("  %s %s: p50 %s, p99 %s, CPU %s per seat\n", label, what, lat[len(lat)/2].Round(time.Millisecond), lat[(len(lat)*99)/100].Round(time.Millisecond), cpu.Round(10*time.Microsecond))
			if line := steps.take(); line != "" {
				fmt.Printf("    %s\n", line)
			}
		}
	}
	for i := range p50s[0] {
		fmt.Printf("  run %d: image/root p50 %.2fx, CPU per seat %.2fx\n", i+1, float64(p50s[1][i])/float64(p50s[0][i]), float64(cpus[1][i])/float64(cpus[0][i]))
	}
	return nil
}

// warmImage does what the agent does once it has pulled a class's image
// (WarmImage: the user namespaces of the next uid ranges are made in the
// background), and waits until they are made, so that their making is
// in neither side's figures.
func warmImage(rt seatruntime.Runtime, img *seatruntime.Image, seats int) error {
	w, ok := rt.(seatruntime.ImageWarmer)
	if !ok {
		return nil
	}
	t0 := time.Now()
	w.WarmImage(img)
	made, ok := rt.(interface{ UserNamespacesMade() int })
	if !ok {
		return nil
	}
	want := min(seats, 32)
	for made.UserNamespacesMade() < want {
		if time.Since(t0) > time.Minute {
			return fmt.Errorf("after the pull, %d of %d user namespaces made in a minute", made.UserNamespacesMade(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Printf("after the pull (as the agent): %d user namespaces for seats on the image made in %s\n", want, time.Since(t0).Round(time.Millisecond))
	return refillLayers(rt, seats)
}

// refillLayers waits until the runtime's system layers made ahead for the
// warmed image (as many as a burst takes, at most 32) are ready, and says
// how long the refill took and its CPU (that of the whole process while
// it waits: the refill is all that runs). The bench waits before every
// burst, so that no refill runs during a measured burst, of either side:
// an image seat's CPU per seat then leaves out the making of its layer,
// printed here per layer made.
func refillLayers(rt seatruntime.Runtime, seats int) error {
	layers, ok := rt.(interface{ SystemLayersReady() int })
	if !ok {
		return nil
	}
	want := min(seats, 32)
	had := layers.SystemLayersReady()
	if had >= want {
		return nil
	}
	t0, cpu0 := time.Now(), cpuTime()
	for layers.SystemLayersReady() < want {
		if time.Since(t0) > time.Minute {
			return fmt.Errorf("%d of %d system layers made ahead in a minute", layers.SystemLayersReady(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Printf("  (system layers for the image made ahead: %d in %s, CPU %s per layer)\n", want-had,
		time.Since(t0).Round(time.Millisecond), ((cpuTime() - cpu0) / time.Duration(want-had)).Round(10*time.Microsecond))
	return nil
}

// burst creates n seats at once and returns their ready times, sorted,
// then destroys them.
func burst(rt seatruntime.Runtime, ws string, n int, image *seatruntime.Image) ([]time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lat := make([]time.Duration, n)
	made := make([]*seatruntime.Seat, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			made[i], errs[i] = rt.Create(ctx, seatruntime.Spec{WorkshopID: ws, Seat: i + 1, Image: image})
			lat[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	for _, s := range made {
		if s != nil {
			_ = rt.Destroy(context.Background(), s)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.Sort(lat)
	return lat, reaped(30 * time.Second)
}

// cpuTime is the user and system CPU time of this process and of its
// children it has reaped: the seats' inits, with the daemons and shells
// each init reaped, the seat spawners and the user namespace placeholders.
// A burst's CPU is what its seats cost, whatever else loads the machine.
func cpuTime() time.Duration {
	return cputime.Self() + cputime.Reaped().CPU
}

// reaped waits until this process has no children left (the destroyed
// seats' inits are reaped by the runtime's goroutines), so their CPU time
// is in cpuTime.
func reaped(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		tasks, _ := filepath.Glob("/proc/self/task/*/children")
		left := false
		for _, t := range tasks {
			if b, _ := os.ReadFile(t); len(strings.TrimSpace(string(b))) > 0 {
				left = true
			}
		}
		if !left {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("destroyed seats' processes are still not reaped")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
