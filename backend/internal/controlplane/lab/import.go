package lab

import (
	"fmt"
	"strings"
)

// Format is a lab format Import understands.
type Format string

const (
	FormatNative     Format = "clarateach" // lab.yaml
	FormatKillercoda Format = "killercoda" // index.json
	FormatInstruqt   Format = "instruqt"   // track.yml + challenge folders
)

// Import reads a folder in any supported format and returns the lab, which
// has passed the same validation as a native one. What an importer could not
// carry over exactly is in the lab's Warnings.
func Import(files Files) (*Lab, Format, error) {
	if err := files.check(); err != nil {
		return nil, "", err
	}
	switch {
	case has(files, ManifestName):
		l, err := Parse(files)
		return l, FormatNative, err
	case has(files, "index.json"):
		l, err := importKillercoda(files)
		if err != nil {
			return nil, FormatKillercoda, err
		}
		l, err = revalidate(l)
		return l, FormatKillercoda, err
	case has(files, "track.yml"):
		l, err := importInstruqt(files)
		if err != nil {
			return nil, FormatInstruqt, err
		}
		l, err = revalidate(l)
		return l, FormatInstruqt, err
	}
	return nil, "", &ValidationError{Problems: []Problem{{Msg: "not a lab: no lab.yaml, Killercoda index.json or Instruqt track.yml at the folder's root"}}}
}

func has(f Files, name string) bool { _, ok := f[name]; return ok }

// revalidate passes an imported lab through Export and Parse, so the limits
// and rules of the native format hold for it too.
func revalidate(l *Lab) (*Lab, error) {
	f, err := Export(l)
	if err != nil {
		return nil, err
	}
	out, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("the imported lab is not valid: %w", err)
	}
	out.Warnings = append(l.Warnings, rootWarnings(out)...)
	return out, nil
}

// rootWarnings notes scripts that assume the learner is root at /root: an
// imported lab's learner has their own home ($HOME) and is not root unless
// the workshop says so.
func rootWarnings(l *Lab) []string {
	var w []string
	for i, s := range l.Steps {
		for _, sc := range []string{s.Check, s.Setup, s.Solve} {
			if strings.Contains(sc, "/root") {
				w = append(w, fmt.Sprintf("step %d (%s): a script uses /root; the learner's home is $HOME", i+1, s.ID))
				break
			}
		}
	}
	return w
}
