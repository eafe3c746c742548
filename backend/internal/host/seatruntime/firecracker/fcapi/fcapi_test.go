package fcapi_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/fcapi"
	"github.com/clarateach/backend/internal/host/seatruntime/firecracker/fcfake"
)

func start(t *testing.T, opts fcfake.Options) (*fcfake.Server, *fcapi.Client, string) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	srv, err := fcfake.Listen(sock, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := fcapi.New(sock, 5*time.Second)
	t.Cleanup(c.Close)
	return srv, c, dir
}

func touch(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClientSequence(t *testing.T) {
	t.Parallel()
	srv, c, dir := start(t, fcfake.Options{ID: "vm1"})
	ctx := context.Background()
	kernel := touch(t, filepath.Join(dir, "vmlinux"))
	rootfs := touch(t, filepath.Join(dir, "rootfs.ext4"))
	logf := touch(t, filepath.Join(dir, "fc.log"))

	info, err := c.InstanceInfo(ctx)
	if err != nil || info.State != fcapi.StateNotStarted || info.ID != "vm1" {
		t.Fatalf("InstanceInfo = %+v, %v", info, err)
	}
	steps := []func() error{
		func() error { return c.PutLogger(ctx, fcapi.Logger{LogPath: logf, Level: "Info"}) },
		func() error { return c.PutMachineConfig(ctx, fcapi.MachineConfig{VCPUCount: 2, MemSizeMiB: 512}) },
		func() error {
			return c.PutBootSource(ctx, fcapi.BootSource{KernelImagePath: kernel, BootArgs: "console=ttyS0"})
		},
		func() error {
			return c.PutDrive(ctx, fcapi.Drive{DriveID: "rootfs", PathOnHost: rootfs, IsRootDevice: true, IsReadOnly: true})
		},
		func() error {
			return c.PutNetworkInterface(ctx, fcapi.NetworkInterface{IfaceID: "eth0", HostDevName: "tap0", GuestMAC: "06:00:c0:a8:64:0b"})
		},
		func() error { return c.InstanceStart(ctx) },
		func() error { return c.SendCtrlAltDel(ctx) },
	}
	for i, f := range steps {
		if err := f(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	info, err = c.InstanceInfo(ctx)
	if err != nil || info.State != fcapi.StateRunning {
		t.Fatalf("InstanceInfo after start = %+v, %v", info, err)
	}
	var got []string
	for _, call := range srv.Calls() {
		got = append(got, call.String())
	}
	want := []string{
		`GET /`,
		`PUT /logger {"log_path":"` + logf + `","level":"Info"}`,
		`PUT /machine-config {"vcpu_count":2,"mem_size_mib":512,"smt":false}`,
		`PUT /boot-source {"kernel_image_path":"` + kernel + `","boot_args":"console=ttyS0"}`,
		`PUT /drives/rootfs {"drive_id":"rootfs","path_on_host":"` + rootfs + `","is_root_device":true,"is_read_only":true}`,
		`PUT /network-interfaces/eth0 {"iface_id":"eth0","host_dev_name":"tap0","guest_mac":"06:00:c0:a8:64:0b"}`,
		`PUT /actions {"action_type":"InstanceStart"}`,
		`PUT /actions {"action_type":"SendCtrlAltDel"}`,
		`GET /`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls:\n got %q\nwant %q", got, want)
	}
}

func TestClientFault(t *testing.T) {
	t.Parallel()
	_, c, dir := start(t, fcfake.Options{Faults: []fcfake.Fault{{Method: "PUT", Path: "/machine-config", Status: 400, FaultMessage: "boom"}}})
	err := c.PutMachineConfig(context.Background(), fcapi.MachineConfig{VCPUCount: 2, MemSizeMiB: 512})
	var ae *fcapi.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.FaultMessage != "boom" || fcapi.FaultMessage(err) != "boom" {
		t.Fatalf("err = %#v", err)
	}
	if want := "firecracker PUT /machine-config: 400: boom"; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
	// A missing file is refused with Firecracker's kind of message.
	err = c.PutBootSource(context.Background(), fcapi.BootSource{KernelImagePath: filepath.Join(dir, "nope")})
	if fcapi.FaultMessage(err) == "" {
		t.Fatalf("missing kernel accepted: %v", err)
	}
}

func TestClientNoServer(t *testing.T) {
	t.Parallel()
	c := fcapi.New(filepath.Join(t.TempDir(), "absent.sock"), time.Second)
	defer c.Close()
	_, err := c.InstanceInfo(context.Background())
	var ae *fcapi.APIError
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("err = %v, want a dial error", err)
	}
}
