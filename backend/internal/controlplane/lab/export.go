package lab

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Export writes a lab back as a folder that Parse reads to the same Lab:
// lab.yaml, steps/NN-<id>.md and the step's scripts beside it, setup.sh and
// files/.
func Export(l *Lab) (Files, error) {
	f := Files{}
	m := manifest{
		Title:       l.Title,
		Description: l.Description,
		Environment: l.Environment,
		LearnerRoot: l.LearnerRoot,
		Resources:   l.Resources,
	}
	if l.Duration > 0 {
		m.Duration = l.Duration.String()
	}
	if l.Order == OrderFree {
		m.Order = string(OrderFree)
	}
	if l.Setup != "" {
		m.Setup = "setup.sh"
		f["setup.sh"] = []byte(l.Setup)
	}
	for i, s := range l.Steps {
		base := fmt.Sprintf("steps/%02d-%s", i+1, s.ID)
		r := stepRecord{ID: s.ID, Title: s.Title, Text: base + ".md"}
		f[r.Text] = []byte(s.Markdown)
		if s.Check != "" {
			r.Check = base + ".check.sh"
			f[r.Check] = []byte(s.Check)
		}
		if s.Setup != "" {
			r.Setup = base + ".setup.sh"
			f[r.Setup] = []byte(s.Setup)
		}
		if s.Solve != "" {
			r.Solve = base + ".solve.sh"
			f[r.Solve] = []byte(s.Solve)
		}
		if s.CheckTimeout != 0 && s.CheckTimeout != DefaultTimeout {
			r.CheckTimeout = s.CheckTimeout.String()
		}
		m.Steps = append(m.Steps, r)
	}
	for name, data := range l.Files {
		f["files/"+name] = data
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(exportManifest(m)); err != nil {
		return nil, fmt.Errorf("export lab.yaml: %w", err)
	}
	f[ManifestName] = []byte(b.String())
	return f, nil
}

// exportManifest is manifest with omitempty tags, so an exported lab.yaml
// holds only what the lab sets.
type exportStep struct {
	ID           string `yaml:"id,omitempty"`
	Title        string `yaml:"title"`
	Text         string `yaml:"text"`
	Check        string `yaml:"check,omitempty"`
	Setup        string `yaml:"setup,omitempty"`
	Solve        string `yaml:"solve,omitempty"`
	CheckTimeout string `yaml:"check_timeout,omitempty"`
}

type exportResources struct {
	VCPUs    int `yaml:"vcpus,omitempty"`
	MemoryMB int `yaml:"memory_mb,omitempty"`
	DiskMB   int `yaml:"disk_mb,omitempty"`
}

type exportDoc struct {
	Title       string           `yaml:"title"`
	Description string           `yaml:"description,omitempty"`
	Duration    string           `yaml:"duration,omitempty"`
	Order       string           `yaml:"order,omitempty"`
	Resources   *exportResources `yaml:"resources,omitempty"`
	Environment string           `yaml:"environment,omitempty"`
	LearnerRoot bool             `yaml:"learner_root,omitempty"`
	Setup       string           `yaml:"setup,omitempty"`
	Steps       []exportStep     `yaml:"steps"`
}

func exportManifest(m manifest) exportDoc {
	d := exportDoc{Title: m.Title, Description: m.Description, Duration: m.Duration, Order: m.Order, Environment: m.Environment, LearnerRoot: m.LearnerRoot, Setup: m.Setup}
	if m.Resources != (Resources{}) {
		d.Resources = &exportResources{VCPUs: m.Resources.VCPUs, MemoryMB: m.Resources.MemoryMB, DiskMB: m.Resources.DiskMB}
	}
	for _, s := range m.Steps {
		d.Steps = append(d.Steps, exportStep{ID: s.ID, Title: s.Title, Text: s.Text, Check: s.Check, Setup: s.Setup, Solve: s.Solve, CheckTimeout: s.CheckTimeout})
	}
	return d
}
