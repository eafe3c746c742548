// Command testreport turns `go test -json` into what a person running
// `make test` wants to see: one line per package as it finishes (with its
// time and test counts), the full output of every failing test and failed
// build (compiler errors, and go vet's findings under -vet), and at the
// end every skipped test with the reason it gave and the slowest tests
// (what a long run spent its time on). It exits 1 when anything failed.
//
//	go test -json ./... | go run ./tools/testreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json`: a test event (cmd/test2json), or
// the output of a package's build, which includes go vet's findings
// (Action "build-output", keyed by ImportPath; the package's "fail" event
// names it in FailedBuild).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	Elapsed     float64
	ImportPath  string
	FailedBuild string
}

// builds keeps each failed build's output (compiler errors, vet findings)
// until a package's failure names it.
type builds struct {
	output  map[string][]string // ImportPath → lines
	printed map[string]bool
}

// add records a build-output line; it reports whether e was one.
func (b *builds) add(e event) bool {
	if e.Action != "build-output" && e.Action != "build-fail" {
		return false
	}
	if e.Action == "build-output" {
		b.output[e.ImportPath] = append(b.output[e.ImportPath], e.Output)
	}
	return true
}

// show prints the output of the build a failed package names, once.
func (b *builds) show(out io.Writer, importPath string) {
	if b.printed[importPath] {
		fmt.Fprintf(out, "    (build of %s failed: its output is above)\n", importPath)
		return
	}
	b.printed[importPath] = true
	for _, l := range b.output[importPath] {
		fmt.Fprint(out, "    "+l)
	}
}

type pkgState struct {
	passed, failed, skipped int
	output                  map[string][]string // test (or "" for the package) → output lines
}

type skip struct{ pkg, test, reason string }

// slowestShown is how many of the slowest tests the summary lists.
const slowestShown = 10

// timed is a top-level test that ended (passed or failed) and its wall time.
type timed struct {
	pkg, test string
	secs      float64
}

// slowest keeps the slowestShown longest top-level tests.
type slowest []timed

func (s *slowest) add(e event) {
	if e.Test == "" || strings.Contains(e.Test, "/") || (e.Action != "pass" && e.Action != "fail") {
		return
	}
	*s = append(*s, timed{e.Package, e.Test, e.Elapsed})
	sort.SliceStable(*s, func(i, j int) bool { return (*s)[i].secs > (*s)[j].secs })
	if len(*s) > slowestShown {
		*s = (*s)[:slowestShown]
	}
}

// print lists them, longest first. Each ran beside other tests and
// packages, so its time is the machine's under the whole run's load.
func (s slowest) print(out io.Writer) {
	if len(s) == 0 {
		return
	}
	fmt.Fprintf(out, "\nslowest Go tests (wall time, beside the rest of the run):\n")
	for _, t := range s {
		fmt.Fprintf(out, "  %7.1fs  %s %s\n", t.secs, t.pkg, t.test)
	}
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	pkgs := map[string]*pkgState{}
	state := func(p string) *pkgState {
		s := pkgs[p]
		if s == nil {
			s = &pkgState{output: map[string][]string{}}
			pkgs[p] = s
		}
		return s
	}
	builds := &builds{output: map[string][]string{}, printed: map[string]bool{}}
	var skips []skip
	var slow slowest
	var failedPkgs []string
	done, bad := 0, 0
	start := time.Now()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(out, sc.Text()) // build errors and the like come as plain text
			continue
		}
		if builds.add(e) {
			continue
		}
		s := state(e.Package)
		switch e.Action {
		case "output":
			s.output[e.Test] = append(s.output[e.Test], e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				done++
				status := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "--  "}[e.Action]
				fmt.Fprintf(out, "%s %-60s %6.1fs  %d passed, %d failed, %d skipped   [%d done, %s]\n",
					status, e.Package, e.Elapsed, s.passed, s.failed, s.skipped, done, time.Since(start).Round(time.Second))
				if e.Action == "fail" {
					bad++
					failedPkgs = append(failedPkgs, e.Package)
					if e.FailedBuild != "" {
						builds.show(out, e.FailedBuild)
					}
					if s.failed == 0 { // a build or TestMain failure: show the package output
						for _, l := range s.output[""] {
							fmt.Fprint(out, "    "+l)
						}
					}
				}
				continue
			}
			slow.add(e)
			switch e.Action {
			case "pass":
				s.passed++
			case "fail":
				s.failed++
				fmt.Fprintf(out, "--- FAIL %s %s\n", e.Package, e.Test)
				for _, l := range s.output[e.Test] {
					fmt.Fprint(out, "    "+l)
				}
			case "skip":
				s.skipped++
				skips = append(skips, skip{e.Package, e.Test, skipReason(s.output[e.Test])})
			}
			delete(s.output, e.Test)
		}
	}
	if len(skips) > 0 {
		sort.Slice(skips, func(i, j int) bool {
			if skips[i].pkg != skips[j].pkg {
				return skips[i].pkg < skips[j].pkg
			}
			return skips[i].test < skips[j].test
		})
		fmt.Fprintf(out, "\nskipped Go tests (%d):\n", len(skips))
		for _, k := range skips {
			fmt.Fprintf(out, "  SKIP %s %s: %s\n", k.pkg, k.test, k.reason)
		}
	}
	slow.print(out)
	var passed, failed, skipped int
	for _, s := range pkgs {
		passed, failed, skipped = passed+s.passed, failed+s.failed, skipped+s.skipped
	}
	fmt.Fprintf(out, "\ngo tests: %d passed, %d failed, %d skipped in %d packages (%d failed) in %s\n",
		passed, failed, skipped, done, bad, time.Since(start).Round(time.Second))
	if bad > 0 || failed > 0 {
		fmt.Fprintf(out, "failed packages: %s\n", strings.Join(failedPkgs, " "))
		return 1
	}
	return 0
}

// skipReason is the message a test gave t.Skip: the output line after the
// "--- SKIP" header, or the last line that is not a header.
func skipReason(lines []string) string {
	reason := ""
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		reason = t
	}
	if reason == "" {
		return "(no reason given)"
	}
	return reason
}
