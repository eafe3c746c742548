// Package lab is the lab format: a folder (or an uploaded .zip/.tar.gz) with
// a lab.yaml, one markdown file per step, optional per-step check/setup/solve
// scripts, an optional lab-level setup script and a files/ folder copied into
// every learner's home.
//
// Parse turns such a folder into a Lab, or into a *ValidationError whose
// problems each name a file and, where there is one, a line
// ("lab.yaml:12: step 3 has no title"). A broken lab is refused as a whole.
// The importers (Killercoda, Instruqt) turn those formats into the same
// folder; Export writes a Lab back as a folder.
package lab

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits on what a lab may hold. They keep a hostile upload from costing
// the control plane memory or the database space.
const (
	MaxSteps        = 100
	MaxMarkdown     = 256 << 10 // one step's markdown
	MaxScript       = 64 << 10  // one script
	MaxFilesTotal   = 10 << 20  // everything under files/
	MaxFiles        = 2000      // entries in the whole folder
	MaxTotal        = 20 << 20  // the whole folder, uncompressed
	DefaultTimeout  = 10 * time.Second
	MaxCheckTimeout = 120 * time.Second
)

// Order says whether a learner must pass a step's check before the next
// step is shown.
type Order string

const (
	OrderSequential Order = "sequential" // the next step is shown after a pass (the default)
	OrderFree       Order = "free"       // every step is shown from the start
)

// Resources are the seat resources a lab asks for; zero means the
// workshop's default.
type Resources struct {
	VCPUs    int `json:"vcpus,omitempty" yaml:"vcpus"`
	MemoryMB int `json:"memory_mb,omitempty" yaml:"memory_mb"`
	DiskMB   int `json:"disk_mb,omitempty" yaml:"disk_mb"`
}

// Step is one step of a lab.
type Step struct {
	ID           string        // stable identifier: the lab's own or "step-N"
	Title        string        // shown in the guide and the progress matrix
	Markdown     string        // the step's text
	Check        string        // script run as the learner; exit 0 = done; stdout = message
	Setup        string        // script run as root when the learner enters the step
	Solve        string        // script "solve for me" runs
	CheckTimeout time.Duration // bound on Check (DefaultTimeout when the lab sets none)
}

// Lab is a parsed, valid lab.
type Lab struct {
	Title       string
	Description string
	Duration    time.Duration // 0: not given
	Order       Order
	Resources   Resources
	Environment string // OCI image reference; "" = the host root
	// LearnerRoot makes learners root inside their seats' own namespaces
	// (a workshop's learner_root), for labs that install packages.
	LearnerRoot bool
	Setup       string // lab-level script, run as root at seat start
	Steps       []Step
	// Files are copied into every learner's home: path relative to the
	// home → content.
	Files map[string][]byte
	// Warnings are things an importer could not carry over exactly; they do
	// not make the lab invalid.
	Warnings []string
}

// Problem is one thing wrong with a lab, at a file and (when known) a line.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	if p.File != "" {
		return p.File + ": " + p.Msg
	}
	return p.Msg
}

// ValidationError lists every problem found, in file and line order.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid lab: " + strings.Join(lines, "; ")
}

// Problems returns the problems of err when it is a *ValidationError.
func Problems(err error) []Problem {
	var v *ValidationError
	if errors.As(err, &v) {
		return v.Problems
	}
	return nil
}

// The lab.yaml document as written.
type manifest struct {
	Title       string       `yaml:"title"`
	Description string       `yaml:"description"`
	Duration    string       `yaml:"duration"`
	Order       string       `yaml:"order"`
	Resources   Resources    `yaml:"resources"`
	Environment string       `yaml:"environment"`
	LearnerRoot bool         `yaml:"learner_root"`
	Setup       string       `yaml:"setup"`
	Steps       []stepRecord `yaml:"steps"`
}

type stepRecord struct {
	ID           string `yaml:"id"`
	Title        string `yaml:"title"`
	Text         string `yaml:"text"`
	Check        string `yaml:"check"`
	Setup        string `yaml:"setup"`
	Solve        string `yaml:"solve"`
	CheckTimeout string `yaml:"check_timeout"`
	line         int
}

// ManifestName is the lab's description file at the folder's root.
const ManifestName = "lab.yaml"

var (
	idPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	lineInYAML = regexp.MustCompile(`^yaml: (?:unmarshal errors:\n\s*)?line (\d+): (.*)$`)
)

// checker gathers problems while a lab is parsed.
type checker struct {
	files    Files
	problems []Problem
}

func (c *checker) add(file string, line int, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// text reads a referenced file as UTF-8 text no bigger than limit.
func (c *checker) text(ref, from string, line int, what string, limit int) string {
	name := path.Clean(ref)
	if path.IsAbs(ref) || name == ".." || strings.HasPrefix(name, "../") {
		c.add(from, line, "%s %q must be a path inside the lab folder", what, ref)
		return ""
	}
	data, ok := c.files[name]
	if !ok {
		c.add(from, line, "%s %q: no such file in the lab", what, ref)
		return ""
	}
	if len(data) > limit {
		c.add(name, 0, "%s is %d bytes; the limit is %d", what, len(data), limit)
		return ""
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		c.add(name, 0, "%s is not UTF-8 text", what)
		return ""
	}
	return string(data)
}

// Parse reads a lab folder. The folder's paths are slash-separated and
// relative to its root (see Files).
func Parse(files Files) (*Lab, error) {
	c := &checker{files: files}
	if err := files.check(); err != nil {
		return nil, err
	}
	raw, ok := files[ManifestName]
	if !ok {
		return nil, &ValidationError{Problems: []Problem{{File: ManifestName, Msg: "missing: a lab folder needs a lab.yaml at its root"}}}
	}
	m, err := decodeManifest(raw)
	if err != nil {
		return nil, err
	}
	l := parseHeader(c, &m)
	if len(m.Steps) == 0 {
		c.add(ManifestName, 1, "the lab has no steps")
	}
	if len(m.Steps) > MaxSteps {
		c.add(ManifestName, 0, "the lab has %d steps; the limit is %d", len(m.Steps), MaxSteps)
	}
	seen := map[string]int{}
	for i, s := range m.Steps {
		l.Steps = append(l.Steps, parseStep(c, i+1, s, seen))
	}
	l.Files = labFiles(c, files)
	if len(c.problems) > 0 {
		sortProblems(c.problems)
		return nil, &ValidationError{Problems: c.problems}
	}
	return l, nil
}

// parseHeader reads what lab.yaml says of the whole lab: title, duration,
// order, resources, environment, learner root and the lab's setup script.
func parseHeader(c *checker, m *manifest) *Lab {
	l := &Lab{
		Title:       strings.TrimSpace(m.Title),
		Description: strings.TrimSpace(m.Description),
		Order:       OrderSequential,
		Resources:   m.Resources,
		Environment: strings.TrimSpace(m.Environment),
		LearnerRoot: m.LearnerRoot,
	}
	if l.Title == "" {
		c.add(ManifestName, 1, "the lab has no title")
	}
	if m.Duration != "" {
		d, err := time.ParseDuration(m.Duration)
		if err != nil || d <= 0 || d > 14*24*time.Hour {
			c.add(ManifestName, 0, "duration %q: want a length such as 90m or 2h, at most 14 days", m.Duration)
		}
		l.Duration = d
	}
	switch Order(m.Order) {
	case "", OrderSequential:
	case OrderFree:
		l.Order = OrderFree
	default:
		c.add(ManifestName, 0, "order %q: want sequential or free", m.Order)
	}
	checkResources(c, m.Resources)
	if l.Environment != "" && strings.ContainsAny(l.Environment, " \t\n") {
		c.add(ManifestName, 0, "environment %q is not an image reference", l.Environment)
	}
	setup := m.Setup
	if setup == "" {
		if _, ok := c.files["setup.sh"]; ok {
			setup = "setup.sh"
		}
	}
	if setup != "" {
		l.Setup = c.text(setup, ManifestName, 0, "lab setup script", MaxScript)
	}
	return l
}

// parseStep reads step n (from 1) of lab.yaml; seen maps the step ids
// read so far to their numbers.
func parseStep(c *checker, n int, s stepRecord, seen map[string]int) Step {
	st := Step{ID: strings.TrimSpace(s.ID), Title: strings.TrimSpace(s.Title), CheckTimeout: DefaultTimeout}
	if st.ID == "" {
		st.ID = fmt.Sprintf("step-%d", n)
	} else if !idPattern.MatchString(st.ID) {
		c.add(ManifestName, s.line, "step %d: id %q must be lower-case letters, digits and dashes", n, st.ID)
	}
	if prev, dup := seen[st.ID]; dup {
		c.add(ManifestName, s.line, "step %d has the same id %q as step %d", n, st.ID, prev)
	}
	seen[st.ID] = n
	if st.Title == "" {
		c.add(ManifestName, s.line, "step %d has no title", n)
	}
	if s.Text == "" {
		c.add(ManifestName, s.line, "step %d has no text (the path of its markdown file)", n)
	} else {
		st.Markdown = c.text(s.Text, ManifestName, s.line, fmt.Sprintf("step %d text", n), MaxMarkdown)
	}
	if s.Check != "" {
		st.Check = c.text(s.Check, ManifestName, s.line, fmt.Sprintf("step %d check script", n), MaxScript)
	}
	if s.Setup != "" {
		st.Setup = c.text(s.Setup, ManifestName, s.line, fmt.Sprintf("step %d setup script", n), MaxScript)
	}
	if s.Solve != "" {
		st.Solve = c.text(s.Solve, ManifestName, s.line, fmt.Sprintf("step %d solve script", n), MaxScript)
	}
	if s.CheckTimeout != "" {
		d, err := time.ParseDuration(s.CheckTimeout)
		if err != nil || d <= 0 || d > MaxCheckTimeout {
			c.add(ManifestName, s.line, "step %d: check_timeout %q: want a length such as 10s, at most %s", n, s.CheckTimeout, MaxCheckTimeout)
		} else {
			st.CheckTimeout = d
		}
	}
	return st
}

// labFiles is the lab's files/ folder (paths relative to it), within
// MaxFilesTotal.
func labFiles(c *checker, files Files) map[string][]byte {
	out := map[string][]byte{}
	total := 0
	for name, data := range files {
		rel, ok := strings.CutPrefix(name, "files/")
		if !ok || rel == "" {
			continue
		}
		total += len(data)
		out[rel] = data
	}
	if total > MaxFilesTotal {
		c.add("files/", 0, "holds %d bytes; the limit is %d", total, MaxFilesTotal)
	}
	return out
}

func checkResources(c *checker, r Resources) {
	if r.VCPUs != 0 && (r.VCPUs < 1 || r.VCPUs > 16) {
		c.add(ManifestName, 0, "resources.vcpus %d: want 1..16", r.VCPUs)
	}
	if r.MemoryMB != 0 && (r.MemoryMB < 128 || r.MemoryMB > 65536) {
		c.add(ManifestName, 0, "resources.memory_mb %d: want 128..65536", r.MemoryMB)
	}
	if r.DiskMB != 0 && (r.DiskMB < 256 || r.DiskMB > 65536) {
		c.add(ManifestName, 0, "resources.disk_mb %d: want 256..65536", r.DiskMB)
	}
}

// decodeManifest decodes lab.yaml strictly (unknown keys are errors) and
// keeps each step's line.
func decodeManifest(raw []byte) (manifest, error) {
	var m manifest
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return m, &ValidationError{Problems: []Problem{yamlProblem(err)}}
	}
	if len(doc.Content) == 0 {
		return m, &ValidationError{Problems: []Problem{{File: ManifestName, Line: 1, Msg: "empty: want a mapping with title and steps"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return m, &ValidationError{Problems: []Problem{{File: ManifestName, Line: root.Line, Msg: "want a mapping with title and steps"}}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return m, &ValidationError{Problems: []Problem{yamlProblem(err)}}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "steps" || root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for j, n := range root.Content[i+1].Content {
			if j < len(m.Steps) {
				m.Steps[j].line = n.Line
			}
		}
	}
	return m, nil
}

func yamlProblem(err error) Problem {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if m := lineInYAML.FindStringSubmatch("yaml: " + strings.TrimPrefix(msg, "yaml: ")); m != nil {
		var line int
		fmt.Sscanf(m[1], "%d", &line)
		return Problem{File: ManifestName, Line: line, Msg: m[2]}
	}
	return Problem{File: ManifestName, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}

// StepIndex is the position of the step with id in the lab, or -1.
func (l *Lab) StepIndex(id string) int {
	for i, s := range l.Steps {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// Step returns the step with id.
func (l *Lab) Step(id string) (Step, bool) {
	if i := l.StepIndex(id); i >= 0 {
		return l.Steps[i], true
	}
	return Step{}, false
}
