package lab

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

type iqTrack struct {
	Slug        string `yaml:"slug"`
	Title       string `yaml:"title"`
	Teaser      string `yaml:"teaser"`
	Description string `yaml:"description"`
}

type iqConfig struct {
	VirtualMachines []iqHost `yaml:"virtualmachines"`
	Containers      []iqHost `yaml:"containers"`
}

type iqHost struct {
	Name   string `yaml:"name"`
	Image  string `yaml:"image"`
	Memory int    `yaml:"memory"`
}

type iqChallenge struct {
	Slug      string `yaml:"slug"`
	Type      string `yaml:"type"`
	Title     string `yaml:"title"`
	Teaser    string `yaml:"teaser"`
	TimeLimit int    `yaml:"timelimit"`
}

// iqVMImages maps Instruqt's own VM images to the nearest OCI image.
var iqVMImages = map[string]string{
	"instruqt/ubuntu-2004": "ubuntu:20.04",
	"instruqt/ubuntu-2204": "ubuntu:22.04",
	"instruqt/ubuntu-2404": "ubuntu:24.04",
	"instruqt/debian-12":   "debian:12",
}

var iqScriptKinds = []string{"check", "setup", "solve", "cleanup"}

func importInstruqt(files Files) (*Lab, error) {
	c := &checker{files: files}
	var tr iqTrack
	if err := yaml.Unmarshal(files["track.yml"], &tr); err != nil {
		p := yamlProblem(err)
		p.File = "track.yml"
		return nil, &ValidationError{Problems: []Problem{p}}
	}
	l := &Lab{Title: strings.TrimSpace(tr.Title), Order: OrderSequential, Files: map[string][]byte{}}
	l.Description = strings.TrimSpace(strings.TrimSpace(tr.Teaser) + "\n\n" + strings.TrimSpace(tr.Description))
	if l.Title == "" {
		c.add("track.yml", 0, "the track has no title")
	}
	host, err := iqTrackHost(files, l)
	if err != nil {
		return nil, err
	}
	script := func(dir, kind string) string {
		if host == "" {
			return ""
		}
		name := path.Join(dir, kind+"-"+host)
		if dir == "" {
			name = kind + "-" + host
		}
		if _, ok := files[name]; !ok {
			return ""
		}
		return c.text(name, name, 0, kind+" script", MaxScript)
	}
	l.Setup = script("track_scripts", "setup")
	if script("track_scripts", "cleanup") != "" {
		l.Warnings = append(l.Warnings, "track_scripts/cleanup: cleanup scripts are not run (seats are discarded at the end)")
	}

	// Challenges: folders with an assignment.md, in folder-name order
	// (Instruqt's NN-slug convention).
	var dirs []string
	for _, name := range files.Names() {
		if path.Base(name) == "assignment.md" && strings.Count(name, "/") == 1 {
			dirs = append(dirs, path.Dir(name))
		}
	}
	sort.Strings(dirs)
	if len(dirs) == 0 {
		c.add("track.yml", 0, "the track has no challenges (folders with an assignment.md)")
	}
	for i, dir := range dirs {
		if s, ok := iqStep(c, l, i+1, dir, script); ok {
			l.Steps = append(l.Steps, s)
		}
	}
	if len(c.problems) > 0 {
		sortProblems(c.problems)
		return nil, &ValidationError{Problems: c.problems}
	}
	return l, nil
}

// iqTrackHost reads the track's hosts (config.yml names them; scripts are
// suffixed with a host name), sets the lab's environment and memory from
// config.yml, and returns the one host's name ("" when none is named). A
// track on more than one host cannot be imported.
func iqTrackHost(files Files, l *Lab) (string, error) {
	hosts := map[string]bool{}
	if raw, ok := files["config.yml"]; ok {
		var cfg iqConfig
		if err := yaml.Unmarshal(raw, &cfg); err != nil {
			p := yamlProblem(err)
			p.File = "config.yml"
			return "", &ValidationError{Problems: []Problem{p}}
		}
		for _, h := range append(cfg.Containers, cfg.VirtualMachines...) {
			hosts[h.Name] = true
		}
		switch {
		case len(cfg.Containers) == 1 && len(cfg.VirtualMachines) == 0:
			l.Environment = cfg.Containers[0].Image
			if m := cfg.Containers[0].Memory; m > 0 {
				l.Resources.MemoryMB = m
			}
		case len(cfg.VirtualMachines) == 1 && len(cfg.Containers) == 0:
			img := cfg.VirtualMachines[0].Image
			if oci, ok := iqVMImages[img]; ok {
				l.Environment = oci
			} else if img != "" {
				l.Warnings = append(l.Warnings, fmt.Sprintf("VM image %q has no known equivalent: the workshop's default environment is used", img))
			}
		}
	}
	for _, name := range files.Names() {
		for _, kind := range iqScriptKinds {
			base := path.Base(name)
			if host, ok := strings.CutPrefix(base, kind+"-"); ok && host != "" && !strings.Contains(host, ".") {
				hosts[host] = true
			}
		}
	}
	if len(hosts) > 1 {
		names := make([]string, 0, len(hosts))
		for h := range hosts {
			names = append(names, h)
		}
		sort.Strings(names)
		return "", &ValidationError{Problems: []Problem{{File: "config.yml", Msg: fmt.Sprintf("the track uses %d hosts (%s); only single-host tracks can be imported", len(hosts), strings.Join(names, ", "))}}}
	}
	for h := range hosts {
		return h, nil
	}
	return "", nil
}

// iqStep reads challenge n (from 1) in dir as a step; false when its
// assignment.md cannot be read (the problem is recorded in c).
func iqStep(c *checker, l *Lab, n int, dir string, script func(dir, kind string) string) (Step, bool) {
	file := dir + "/assignment.md"
	front, body, line, err := frontMatter(c.files[file])
	if err != nil {
		c.add(file, line, "%v", err)
		return Step{}, false
	}
	var ch iqChallenge
	if err := yaml.Unmarshal(front, &ch); err != nil {
		p := yamlProblem(err)
		p.File = file
		if p.Line > 0 {
			p.Line++ // the front matter starts after the opening ---
		}
		c.problems = append(c.problems, p)
		return Step{}, false
	}
	if ch.Type != "" && ch.Type != "challenge" {
		l.Warnings = append(l.Warnings, fmt.Sprintf("%s: %s challenges are imported as plain steps", file, ch.Type))
	}
	title := strings.TrimSpace(ch.Title)
	if title == "" {
		c.add(file, 2, "challenge %d has no title", n)
	}
	md := strings.TrimSpace(body)
	if t := strings.TrimSpace(ch.Teaser); t != "" {
		md = "_" + t + "_\n\n" + md
	}
	s := Step{
		ID:           slugID(ch.Slug, n),
		Title:        title,
		Markdown:     md + "\n",
		Check:        script(dir, "check"),
		Setup:        script(dir, "setup"),
		Solve:        script(dir, "solve"),
		CheckTimeout: DefaultTimeout,
	}
	if script(dir, "cleanup") != "" {
		l.Warnings = append(l.Warnings, fmt.Sprintf("%s: cleanup scripts are not run", dir))
	}
	return s, true
}

// frontMatter splits a markdown file that starts with a --- YAML block.
func frontMatter(data []byte) (front []byte, body string, line int, err error) {
	s := string(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")))
	rest, ok := strings.CutPrefix(s, "---\n")
	if !ok {
		return nil, "", 1, fmt.Errorf("no front matter: the file must start with a --- block holding slug, type and title")
	}
	end := strings.Index(rest, "\n---")
	if end < 0 {
		return nil, "", 1, fmt.Errorf("the front matter is not closed with ---")
	}
	body = rest[end+4:]
	body = strings.TrimPrefix(body, "\n")
	return []byte(rest[:end+1]), body, 0, nil
}

func slugID(slug string, n int) string {
	s := strings.ToLower(strings.TrimSpace(slug))
	if idPattern.MatchString(s) {
		return s
	}
	return fmt.Sprintf("step-%d", n)
}
