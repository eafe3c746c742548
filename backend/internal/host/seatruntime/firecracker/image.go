package firecracker

// Seats on an OCI image, and a writable root for a root learner.
//
// Every seat boots the host's base image as its root drive (/dev/vda): it
// holds the guest init and the workspace daemon, on an image seat as on any
// other. A seat on an image (Spec.Image) and a learner_root seat also get
// a system drive, the seat's own sparse ext4 (system.ext4, the size of its
// home disk): the upper layer of an overlay the guest init mounts as the
// learner's root. Its lower layer is, for an image seat, the image's ext4
// disk (imagecache's Ext4: one per digest, shared by every seat on it,
// attached read-only), and for a learner_root seat on the host's root the
// base image itself. The init stays in the base root and runs the daemon
// chrooted in the overlay (scripts/rootfs/clarateach-init, mount_overlay).
//
//	guest     host file                        access      kernel argument
//	/dev/vda  Config.BaseImage                 read-only   root=/dev/vda (Firecracker's)
//	/dev/vdb  <seat>/home.ext4                 read-write  clarateach.home=/dev/vdb
//	/dev/vdc  <seat>/system.ext4               read-write  clarateach.system=/dev/vdc
//	/dev/vdd  <images>/sha256-…/rootfs.ext4    read-only   clarateach.image=/dev/vdd
//
// Firecracker attaches the root drive first and the others in the order
// they are configured (driveList), which is the order the guest names them.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/clarateach/backend/internal/host/seatruntime"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/fcapi"
)

// The guest's names of the seat's drives.
const (
	homeDevice   = "/dev/vdb"
	systemDevice = "/dev/vdc"
	imageDevice  = "/dev/vdd"
)

// systemDiskName is the seat's writable root layer in its directory.
const systemDiskName = "system.ext4"

// The system disk's layout: the overlay's upper and work directories, and
// the seat's settings for the guest init, out of the learner's view.
const (
	systemUpper = "upper"
	systemWork  = "work"
	systemEnv   = "clarateach/env" // the image's Env, one VAR=value a line
)

// guestDisks are the drives a seat has beyond its root and home.
type guestDisks struct {
	system bool     // the writable root layer (system.ext4)
	image  string   // the image's ext4 disk, shared and read-only ("": none)
	digest string   // the image's digest
	env    []string // the image's Env, written on a new system disk
}

// seatDisks are the drives a seat of spec needs: a seat on an image gets
// the image's disk and a system layer over it, a learner_root seat a
// system layer over the base image.
func seatDisks(spec seatruntime.Spec) (guestDisks, error) {
	if spec.Image == nil {
		return guestDisks{system: spec.LearnerRoot}, nil
	}
	if spec.Image.Disk == "" {
		return guestDisks{}, fmt.Errorf("firecracker: image %s has no ext4 disk (the agent builds it with its image cache)", spec.Image.Digest)
	}
	var env []string
	for _, kv := range spec.Image.Env {
		// One a line: a value with a newline cannot be written (the
		// guest init reads the file line by line).
		if strings.Contains(kv, "=") && !strings.ContainsAny(kv, "\n\x00") {
			env = append(env, kv)
		}
	}
	return guestDisks{system: true, image: spec.Image.Disk, digest: spec.Image.Digest, env: env}, nil
}

// drive is one PUT /drives call of a seat's boot and what it is called in
// errors.
type drive struct {
	what string
	fcapi.Drive
}

// driveList is the seat's drives in the order the guest names them
// (vda, vdb, ...): the base image, the home, the system layer, the image.
func (r *Runtime) driveList(l layout, g guestDisks) []drive {
	ds := []drive{
		{"root drive", fcapi.Drive{DriveID: "rootfs", PathOnHost: r.cfg.BaseImage, IsRootDevice: true, IsReadOnly: true}},
		{"home drive", fcapi.Drive{DriveID: "home", PathOnHost: l.disk}},
	}
	if g.system {
		ds = append(ds, drive{"system drive", fcapi.Drive{DriveID: "system", PathOnHost: l.system}})
	}
	if g.image != "" {
		ds = append(ds, drive{"image drive", fcapi.Drive{DriveID: "image", PathOnHost: g.image, IsReadOnly: true}})
	}
	return ds
}

// makeSystemDisk creates the seat's writable root layer: a sparse ext4
// of d.mb MiB, like the home disk, made with the overlay's upper/ and work/
// directories and the image's Env already in it (mkfs.ext4 -d: nothing
// is mounted on the host).
func makeSystemDisk(ctx context.Context, path string, d seatDisk, env []string) (err error) {
	tree, err := os.MkdirTemp(filepath.Dir(path), ".system-")
	if err != nil {
		return fmt.Errorf("firecracker: system disk: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(tree); err == nil && rerr != nil {
			err = fmt.Errorf("firecracker: system disk: %w", rerr)
		}
	}()
	if err := os.Chmod(tree, 0o755); err != nil {
		return fmt.Errorf("firecracker: system disk: %w", err)
	}
	for _, dir := range []string{systemUpper, systemWork, filepath.Dir(systemEnv)} {
		if err := os.Mkdir(filepath.Join(tree, dir), 0o755); err != nil {
			return fmt.Errorf("firecracker: system disk: %w", err)
		}
	}
	var body strings.Builder
	for _, kv := range env {
		body.WriteString(kv + "\n")
	}
	if err := os.WriteFile(filepath.Join(tree, systemEnv), []byte(body.String()), 0o644); err != nil {
		return fmt.Errorf("firecracker: system disk: %w", err)
	}
	return mkfsSparse(ctx, path, d, "clarateach-sys", tree)
}

// ImageDisks says that seats boot an image's ext4 disk
// (seatruntime.Image.Disk, imagecache's Ext4), not its tree: the agent
// builds the disk with the pull.
func (r *Runtime) ImageDisks() bool { return true }
