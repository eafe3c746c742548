package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"a","Test":"TestOK"}`,
		`{"Action":"pass","Package":"a","Test":"TestOK","Elapsed":0.1}`,
		`{"Action":"pass","Package":"a","Test":"TestSlow/sub","Elapsed":9}`,
		`{"Action":"pass","Package":"a","Test":"TestSlow","Elapsed":9.5}`,
		`{"Action":"run","Package":"a","Test":"TestNeedsRoot"}`,
		`{"Action":"output","Package":"a","Test":"TestNeedsRoot","Output":"=== RUN   TestNeedsRoot\n"}`,
		`{"Action":"output","Package":"a","Test":"TestNeedsRoot","Output":"    x_test.go:9: needs root (CI runs as root)\n"}`,
		`{"Action":"output","Package":"a","Test":"TestNeedsRoot","Output":"--- SKIP: TestNeedsRoot (0.00s)\n"}`,
		`{"Action":"skip","Package":"a","Test":"TestNeedsRoot","Elapsed":0}`,
		`{"Action":"pass","Package":"a","Elapsed":0.2}`,
		`{"Action":"output","Package":"b","Test":"TestBad","Output":"    b_test.go:3: boom\n"}`,
		`{"Action":"fail","Package":"b","Test":"TestBad","Elapsed":0.1}`,
		`{"Action":"fail","Package":"b","Elapsed":0.3}`,
	}, "\n")
	var out bytes.Buffer
	code := run(strings.NewReader(in), &out)
	got := out.String()
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{
		"ok   a", "3 passed, 0 failed, 1 skipped",
		"--- FAIL b TestBad", "boom",
		"SKIP a TestNeedsRoot: x_test.go:9: needs root (CI runs as root)",
		"go tests: 3 passed, 1 failed, 1 skipped in 2 packages (1 failed)",
		"slowest Go tests (wall time, beside the rest of the run):\n      9.5s  a TestSlow\n      0.1s  a TestOK\n      0.1s  b TestBad\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestReportBuildFailures: go test -json reports compiler errors and vet
// findings as build-output events keyed by ImportPath; each failed package
// shows the output of the build its FailedBuild names (once when several
// packages share the broken one).
func TestReportBuildFailures(t *testing.T) {
	in := strings.Join([]string{
		`{"ImportPath":"v/b","Action":"build-output","Output":"# v/b\n"}`,
		`{"ImportPath":"v/b","Action":"build-output","Output":"b/b.go:7:10: G passes lock by value: v/b.T contains sync.Mutex\n"}`,
		`{"ImportPath":"v/b","Action":"build-fail"}`,
		`{"ImportPath":"v/c","Action":"build-output","Output":"c/c.go:3:23: cannot use \"x\" as int value\n"}`,
		`{"ImportPath":"v/c","Action":"build-fail"}`,
		`{"Action":"start","Package":"v/b"}`,
		`{"Action":"output","Package":"v/b","Output":"FAIL\tv/b [build failed]\n"}`,
		`{"Action":"fail","Package":"v/b","Elapsed":0,"FailedBuild":"v/b"}`,
		`{"Action":"fail","Package":"v/d","Elapsed":0,"FailedBuild":"v/c"}`,
		`{"Action":"fail","Package":"v/e","Elapsed":0,"FailedBuild":"v/c"}`,
	}, "\n")
	var out bytes.Buffer
	if code := run(strings.NewReader(in), &out); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	got := out.String()
	for _, want := range []string{
		"FAIL v/b", "b/b.go:7:10: G passes lock by value",
		"FAIL v/d", `c/c.go:3:23: cannot use "x" as int value`,
		"FAIL v/e", "(build of v/c failed: its output is above)",
		"failed packages: v/b v/d v/e",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "cannot use"); n != 1 {
		t.Errorf("v/c's build output printed %d times, want once:\n%s", n, got)
	}
}
