package lab

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func folder(t *testing.T, dir string) Files {
	t.Helper()
	f, err := ReadDir(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseNative(t *testing.T) {
	l, err := Parse(folder(t, "testdata/native"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Title != "Files and permissions" || l.Duration != 45*time.Minute || l.Order != OrderSequential {
		t.Fatalf("lab = %q %v %q", l.Title, l.Duration, l.Order)
	}
	if l.Resources != (Resources{VCPUs: 1, MemoryMB: 512}) {
		t.Fatalf("resources = %+v", l.Resources)
	}
	if len(l.Steps) != 3 {
		t.Fatalf("%d steps", len(l.Steps))
	}
	s := l.Steps[0]
	if s.ID != "make" || s.Title != "Make a file" || !strings.Contains(s.Markdown, "touch hello.sh") ||
		!strings.Contains(s.Check, "found hello.sh") || !strings.Contains(s.Solve, "touch ~/hello.sh") || s.CheckTimeout != DefaultTimeout {
		t.Fatalf("step 1 = %+v", s)
	}
	if l.Steps[1].CheckTimeout != 5*time.Second {
		t.Fatalf("step 2 timeout %v", l.Steps[1].CheckTimeout)
	}
	if l.Steps[2].ID != "step-3" || l.Steps[2].Check != "" {
		t.Fatalf("step 3 = %+v", l.Steps[2])
	}
	if !strings.Contains(l.Setup, "apt-get") {
		t.Fatalf("setup.sh was not picked up: %q", l.Setup)
	}
	if string(l.Files["src/main.go"]) != "package main\n\nfunc main() {}\n" || len(l.Files) != 1 {
		t.Fatalf("files = %v", l.Files)
	}
}

// withManifest is the native test lab with lab.yaml replaced.
func withManifest(t *testing.T, manifest string) Files {
	f := folder(t, "testdata/native")
	f[ManifestName] = []byte(manifest)
	return f
}

func TestValidationNamesFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, manifest string
		want           []string
	}{
		{"step without a title", `title: T
steps:
  - title: one
    text: steps/01-make.md
  - title: two
    text: steps/02-chmod.md
  - text: steps/03-done.md
`, []string{"lab.yaml:7: step 3 has no title"}},
		{"missing text file and a bad script path", `title: T
steps:
  - title: one
    text: steps/nope.md
    check: ../../etc/passwd
`, []string{`lab.yaml:3: step 1 check script "../../etc/passwd" must be a path inside the lab folder`, `lab.yaml:3: step 1 text "steps/nope.md": no such file in the lab`}},
		{"unknown key", "title: T\nsteps:\n  - title: one\n    text: steps/01-make.md\n    verify: x.sh\n", []string{"lab.yaml:5: field verify not found"}},
		{"not yaml", "title: [\n", []string{"lab.yaml:"}},
		{"no title, no steps", "description: x\n", []string{"lab.yaml:1: the lab has no title", "lab.yaml:1: the lab has no steps"}},
		{"bad values", `title: T
duration: forever
order: random
resources: {vcpus: 99}
steps:
  - {id: "Bad Id", title: one, text: steps/01-make.md, check_timeout: 1h}
  - {id: dup, title: two, text: steps/02-chmod.md}
  - {id: dup, title: three, text: steps/03-done.md}
`, []string{`duration "forever"`, `order "random"`, "resources.vcpus 99", `lab.yaml:6: step 1: id "Bad Id"`, `lab.yaml:6: step 1: check_timeout "1h"`, `lab.yaml:8: step 3 has the same id "dup" as step 2`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(withManifest(t, tc.manifest))
			if err == nil {
				t.Fatal("a broken lab was accepted")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if len(Problems(err)) == 0 {
				t.Errorf("no problems listed in %v", err)
			}
		})
	}
}

func TestParseRefusesOversizedAndBinary(t *testing.T) {
	f := folder(t, "testdata/native")
	f["steps/01-make.md"] = bytes.Repeat([]byte("a"), MaxMarkdown+1)
	f["steps/02-chmod.md"] = []byte("bin\x00ary")
	_, err := Parse(f)
	if err == nil || !strings.Contains(err.Error(), "steps/01-make.md: step 1 text is") || !strings.Contains(err.Error(), "steps/02-chmod.md: step 2 text is not UTF-8 text") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Parse(Files{"lab.yaml": nil}); err == nil {
		t.Fatal("an empty lab.yaml was accepted")
	}
	if _, err := Parse(Files{"README.md": []byte("x")}); err == nil || !strings.Contains(err.Error(), "lab.yaml: missing") {
		t.Fatalf("no lab.yaml: %v", err)
	}
}

func TestExportRoundTrip(t *testing.T) {
	l, err := Parse(folder(t, "testdata/native"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Export(l)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(f)
	if err != nil {
		t.Fatalf("the exported folder does not parse: %v\n%s", err, f[ManifestName])
	}
	if !reflect.DeepEqual(l, again) {
		t.Fatalf("round trip changed the lab:\n%+v\n%+v", l, again)
	}
	// And through a .tar.gz.
	tgz, err := f.TarGz()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadArchive(tgz)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, f) {
		t.Fatal("tar.gz round trip changed the files")
	}
}

func zipOf(t *testing.T, entries map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range entries {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	return buf.Bytes()
}

func TestReadArchive(t *testing.T) {
	native := folder(t, "testdata/native")
	entries := map[string]string{}
	for name, data := range native {
		entries["mylab/"+name] = string(data)
	}
	f, err := ReadArchive(zipOf(t, entries))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(f); err != nil {
		t.Fatalf("a zipped lab in a top-level folder: %v", err)
	}

	for name, entry := range map[string]string{"zip slip": "../evil.sh", "absolute": "/etc/cron.d/x", "backslash": `..\evil`} {
		if _, err := ReadArchive(zipOf(t, map[string]string{"lab.yaml": "x", entry: "x"})); err == nil {
			t.Errorf("%s: %q accepted", name, entry)
		}
	}
	if _, err := ReadArchive([]byte("not an archive")); !errors.Is(err, ErrNotArchive) {
		t.Errorf("plain bytes: %v", err)
	}

	// A compression bomb stops at the limit instead of filling memory.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: MaxTotal + 1024, Typeflag: tar.TypeReg})
	tw.Write(make([]byte, MaxTotal+1024))
	tw.Close()
	zw.Close()
	if buf.Len() > 1<<20 {
		t.Fatalf("test bomb is %d bytes compressed", buf.Len())
	}
	if _, err := ReadArchive(buf.Bytes()); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("bomb: %v", err)
	}

	// Links are refused.
	buf.Reset()
	zw = gzip.NewWriter(&buf)
	tw = tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "lab.yaml", Linkname: "/etc/shadow", Typeflag: tar.TypeSymlink})
	tw.Close()
	zw.Close()
	if _, err := ReadArchive(buf.Bytes()); err == nil || !strings.Contains(err.Error(), "only regular files") {
		t.Fatalf("symlink: %v", err)
	}
}

func TestImportKillercoda(t *testing.T) {
	l, format, err := Import(folder(t, "testdata/killercoda"))
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatKillercoda || l.Title != "Git basics" || l.Description != "Clone, commit, push." {
		t.Fatalf("%s %q %q", format, l.Title, l.Description)
	}
	var titles []string
	for _, s := range l.Steps {
		titles = append(titles, s.ID+":"+s.Title)
	}
	if got := strings.Join(titles, ", "); got != "intro:Introduction, step-1:Initialise, step-2:Commit, finish:Finish" {
		t.Fatalf("steps = %s", got)
	}
	if !strings.Contains(l.Steps[1].Check, "test -d ~/project/.git") {
		t.Fatalf("verify was not mapped to check: %q", l.Steps[1].Check)
	}
	if s := l.Steps[2].Setup; !strings.Contains(s, "git config --global") || !strings.Contains(s, "cd ~/project") {
		t.Fatalf("background and foreground were not mapped to setup: %q", s)
	}
	if !strings.Contains(l.Setup, "apt-get install -y git") {
		t.Fatalf("intro background was not the lab setup: %q", l.Setup)
	}
	if l.Environment != "ubuntu:24.04" || l.Resources.MemoryMB != 4096 {
		t.Fatalf("environment %q memory %d", l.Environment, l.Resources.MemoryMB)
	}
	if string(l.Files["notes.txt"]) != "remember to commit\n" || len(l.Files) != 1 {
		t.Fatalf("files = %v", l.Files)
	}
	w := strings.Join(l.Warnings, "\n")
	if !strings.Contains(w, "asset motd: target /etc is outside") || !strings.Contains(w, "foreground script") {
		t.Fatalf("warnings = %s", w)
	}
}

func TestImportKillercodaErrors(t *testing.T) {
	f := folder(t, "testdata/killercoda")
	f["index.json"] = []byte("{\n  \"title\": \"x\",\n  oops\n}")
	_, _, err := Import(f)
	if err == nil || !strings.Contains(err.Error(), "index.json:3: not valid JSON") {
		t.Fatalf("err = %v", err)
	}
	f = folder(t, "testdata/killercoda")
	delete(f, "step1/verify.sh")
	_, _, err = Import(f)
	if err == nil || !strings.Contains(err.Error(), `step 1 verify script "step1/verify.sh": no such file`) {
		t.Fatalf("err = %v", err)
	}
}

func TestImportInstruqt(t *testing.T) {
	l, format, err := Import(folder(t, "testdata/instruqt"))
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatInstruqt || l.Title != "Shell basics" || !strings.Contains(l.Description, "Files from the command line.") {
		t.Fatalf("%s %q %q", format, l.Title, l.Description)
	}
	if len(l.Steps) != 2 || l.Steps[0].ID != "make-a-file" || l.Steps[0].Title != "Make a file" || l.Steps[1].ID != "edit-it" {
		t.Fatalf("steps = %+v", l.Steps)
	}
	s := l.Steps[0]
	if !strings.Contains(s.Markdown, "Create `notes.txt`") || !strings.Contains(s.Markdown, "_touch it_") ||
		!strings.Contains(s.Check, "fail-message") || !strings.Contains(s.Solve, "touch /root/notes.txt") || !strings.Contains(s.Setup, "rm -f") {
		t.Fatalf("step 1 = %+v", s)
	}
	if l.Environment != "python:3.12-slim" || l.Resources.MemoryMB != 1024 || !strings.Contains(l.Setup, "pip install requests") {
		t.Fatalf("environment %q memory %d setup %q", l.Environment, l.Resources.MemoryMB, l.Setup)
	}
	w := strings.Join(l.Warnings, "\n")
	if !strings.Contains(w, "02-edit-it: cleanup scripts are not run") || !strings.Contains(w, "uses /root") {
		t.Fatalf("warnings = %s", w)
	}
}

func TestImportInstruqtRefusesMultiHost(t *testing.T) {
	f := folder(t, "testdata/instruqt")
	f["01-make-a-file/check-server"] = []byte("#!/bin/sh\ntrue\n")
	_, _, err := Import(f)
	if err == nil || !strings.Contains(err.Error(), "2 hosts (server, shell); only single-host tracks") {
		t.Fatalf("err = %v", err)
	}
	f = folder(t, "testdata/instruqt")
	f["02-edit-it/assignment.md"] = []byte("no front matter\n")
	_, _, err = Import(f)
	if err == nil || !strings.Contains(err.Error(), "02-edit-it/assignment.md:1: no front matter") {
		t.Fatalf("err = %v", err)
	}
}

func TestImportUnknownFolder(t *testing.T) {
	if _, _, err := Import(Files{"README.md": []byte("hi")}); err == nil || !strings.Contains(err.Error(), "not a lab") {
		t.Fatalf("err = %v", err)
	}
}

// TestParseLearnerRoot: lab.yaml's learner_root makes the lab's learners
// root in their seats; it survives an export, and a value that is not a
// boolean is a problem on its line.
func TestParseLearnerRoot(t *testing.T) {
	const steps = "steps:\n  - title: one\n    text: steps/01-make.md\n"
	l, err := Parse(withManifest(t, "title: T\nenvironment: debian:12\nlearner_root: true\n"+steps))
	if err != nil {
		t.Fatal(err)
	}
	if !l.LearnerRoot || l.Environment != "debian:12" {
		t.Fatalf("learner_root: true parsed as LearnerRoot=%v (environment %q)", l.LearnerRoot, l.Environment)
	}
	f, err := Export(l)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(f[ManifestName]), "learner_root: true") {
		t.Fatalf("exported lab.yaml lost learner_root:\n%s", f[ManifestName])
	}
	if again, err := Parse(f); err != nil || !again.LearnerRoot {
		t.Fatalf("exported lab: %v, LearnerRoot %v", err, again != nil && again.LearnerRoot)
	}
	if l, err := Parse(withManifest(t, "title: T\n"+steps)); err != nil || l.LearnerRoot {
		t.Fatalf("no learner_root: %v, LearnerRoot %v", err, l != nil && l.LearnerRoot)
	}
	if _, err := Parse(withManifest(t, "title: T\nlearner_root: sometimes\n"+steps)); err == nil || !strings.Contains(err.Error(), "lab.yaml:2:") {
		t.Fatalf("learner_root: sometimes: %v, want a problem at lab.yaml:2", err)
	}
}
