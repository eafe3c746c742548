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
		"ok   a", "1 passed, 0 failed, 1 skipped",
		"--- FAIL b TestBad", "boom",
		"SKIP a TestNeedsRoot: x_test.go:9: needs root (CI runs as root)",
		"go tests: 1 passed, 1 failed, 1 skipped in 2 packages (1 failed)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
