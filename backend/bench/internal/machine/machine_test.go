package machine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadsProcFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cpu := write("cpuinfo", "processor\t: 0\nvendor_id\t: X\nmodel name\t: Some  CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: Some CPU @ 2.20GHz\n")
	if got := cpuModel(cpu); got != "Some CPU @ 2.20GHz" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := loadAvg(write("loadavg", "23.51 20.02 18.00 5/900 1234\n")); got != "23.51 20.02 18.00" {
		t.Errorf("loadAvg = %q", got)
	}
	if got := kernel(write("osrelease", "6.1.0-test\n")); got != "6.1.0-test" {
		t.Errorf("kernel = %q", got)
	}
	if got := cpuModel(filepath.Join(dir, "missing")); got != "unknown CPU" {
		t.Errorf("missing cpuinfo = %q", got)
	}
}

func TestLineNamesEverything(t *testing.T) {
	line := Info{CPUModel: "M", CPUs: 2, Load: "1.00 2.00 3.00", Kernel: "6.1"}.String()
	for _, want := range []string{"machine: M", "2 CPUs", "load average 1.00 2.00 3.00 at start", "kernel 6.1"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
}
