package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Killercoda's index.json, the parts a single-host scenario uses.
type kcIndex struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Details     struct {
		Intro  kcPage   `json:"intro"`
		Steps  []kcPage `json:"steps"`
		Finish kcPage   `json:"finish"`
		Assets struct {
			Host01 []struct {
				File   string `json:"file"`
				Target string `json:"target"`
				Chmod  string `json:"chmod"`
			} `json:"host01"`
		} `json:"assets"`
	} `json:"details"`
	Backend struct {
		ImageID string `json:"imageid"`
	} `json:"backend"`
}

type kcPage struct {
	Title      string `json:"title"`
	Text       string `json:"text"`
	Verify     string `json:"verify"`
	Background string `json:"background"`
	Foreground string `json:"foreground"`
}

// kcImages maps Killercoda backend image ids to the nearest environment
// image, with the memory the Killercoda image has.
var kcImages = map[string]struct {
	image    string
	memoryMB int
	note     string
}{
	"ubuntu":                    {image: "ubuntu:24.04"},
	"ubuntu-4GB":                {image: "ubuntu:24.04", memoryMB: 4096},
	"debian":                    {image: "debian:12"},
	"alpine":                    {image: "alpine:3"},
	"kubernetes-kubeadm-1node":  {image: "ubuntu:24.04", note: "a Kubernetes cluster is not provided; the lab setup must install one (for example kind)"},
	"kubernetes-kubeadm-2nodes": {image: "ubuntu:24.04", note: "a two-node Kubernetes cluster is not provided (one host per seat); the lab setup must install one"},
}

func importKillercoda(files Files) (*Lab, error) {
	var ix kcIndex
	dec := json.NewDecoder(bytes.NewReader(files["index.json"]))
	if err := dec.Decode(&ix); err != nil {
		return nil, &ValidationError{Problems: []Problem{{File: "index.json", Line: jsonLine(files["index.json"], err), Msg: "not valid JSON: " + err.Error()}}}
	}
	c := &checker{files: files}
	l := &Lab{Title: strings.TrimSpace(ix.Title), Description: strings.TrimSpace(ix.Description), Order: OrderSequential, Files: map[string][]byte{}}
	if l.Title == "" {
		c.add("index.json", 0, "the scenario has no title")
	}
	if img := ix.Backend.ImageID; img != "" {
		m, ok := kcImages[img]
		if !ok {
			l.Warnings = append(l.Warnings, fmt.Sprintf("backend image %q has no known equivalent: the workshop's default environment is used", img))
		} else {
			l.Environment = m.image
			l.Resources.MemoryMB = m.memoryMB
			if m.note != "" {
				l.Warnings = append(l.Warnings, fmt.Sprintf("backend image %q: %s", img, m.note))
			}
		}
	}
	var setup []string
	script := func(ref, what string) string {
		if ref == "" {
			return ""
		}
		return c.text(ref, "index.json", 0, what, MaxScript)
	}
	page := func(p kcPage, title, what string) Step {
		s := Step{Title: title, CheckTimeout: DefaultTimeout}
		if p.Text != "" {
			s.Markdown = c.text(p.Text, "index.json", 0, what+" text", MaxMarkdown)
		}
		s.Check = script(p.Verify, what+" verify script")
		s.Setup = script(p.Background, what+" background script")
		if fg := script(p.Foreground, what+" foreground script"); fg != "" {
			l.Warnings = append(l.Warnings, fmt.Sprintf("%s: the foreground script runs with the step's setup, not typed into the learner's terminal", what))
			s.Setup = joinScripts(s.Setup, fg)
		}
		return s
	}
	if ix.Details.Intro.Text != "" || ix.Details.Intro.Background != "" || ix.Details.Intro.Foreground != "" {
		intro := page(ix.Details.Intro, "Introduction", "intro")
		// The intro's scripts prepare the machine: they run at seat start.
		setup = append(setup, intro.Setup)
		intro.Setup = ""
		intro.ID = "intro"
		if intro.Markdown != "" {
			l.Steps = append(l.Steps, intro)
		}
	}
	for i, p := range ix.Details.Steps {
		title := strings.TrimSpace(p.Title)
		if title == "" {
			title = fmt.Sprintf("Step %d", i+1)
		}
		s := page(p, title, fmt.Sprintf("step %d", i+1))
		s.ID = fmt.Sprintf("step-%d", i+1)
		l.Steps = append(l.Steps, s)
	}
	if ix.Details.Finish.Text != "" {
		fin := page(ix.Details.Finish, "Finish", "finish")
		fin.ID = "finish"
		l.Steps = append(l.Steps, fin)
	}
	if len(ix.Details.Steps) == 0 {
		c.add("index.json", 0, "the scenario has no steps (details.steps)")
	}
	for _, a := range ix.Details.Assets.Host01 {
		target := strings.TrimSuffix(a.Target, "/")
		rel, ok := homeRelative(target)
		if !ok {
			l.Warnings = append(l.Warnings, fmt.Sprintf("asset %s: target %s is outside the learner's home; copy it in the lab setup instead", a.File, a.Target))
			continue
		}
		src := path.Join("assets", a.File)
		data, ok := files[src]
		if !ok {
			c.add("index.json", 0, "asset %q: no such file %s", a.File, src)
			continue
		}
		l.Files[path.Join(rel, path.Base(a.File))] = data
	}
	l.Setup = joinScripts(setup...)
	if len(c.problems) > 0 {
		sortProblems(c.problems)
		return nil, &ValidationError{Problems: c.problems}
	}
	return l, nil
}

// homeRelative maps a Killercoda asset target (/root, ~, ~/dir) to a path
// inside the learner's home.
func homeRelative(target string) (string, bool) {
	for _, home := range []string{"/root", "~"} {
		if target == home {
			return ".", true
		}
		if rest, ok := strings.CutPrefix(target, home+"/"); ok {
			if c, ok := cleanPath(rest); ok {
				return c, true
			}
		}
	}
	return "", false
}

// joinScripts runs several scripts one after another in one shell script.
func joinScripts(scripts ...string) string {
	var parts []string
	for _, s := range scripts {
		if strings.TrimSpace(s) != "" {
			parts = append(parts, strings.TrimRight(s, "\n"))
		}
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0] + "\n"
	}
	var b strings.Builder
	b.WriteString("#!/bin/sh\nset -e\n")
	for i, p := range parts {
		fmt.Fprintf(&b, "# part %d\n(\n%s\n)\n", i+1, p)
	}
	return b.String()
}

// jsonLine returns the line of a JSON syntax error, or 0.
func jsonLine(data []byte, err error) int {
	var se *json.SyntaxError
	if e, ok := err.(*json.SyntaxError); ok {
		se = e
	}
	if se == nil || se.Offset <= 0 || int(se.Offset) > len(data) {
		return 0
	}
	return 1 + bytes.Count(data[:se.Offset], []byte("\n"))
}
