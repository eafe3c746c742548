package treeshape

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// layoutEntry is a line of the Layout tree: its indentation, its names
// ("connlimit/, fdlimit/" names two) and its description.
var layoutEntry = regexp.MustCompile(`^(\s*)((?:[a-z0-9_]+/(?:, )?)+)(?:\s+(.*))?$`)

// pathToken is a slash path inside a description, e.g. store/postgres.
var pathToken = regexp.MustCompile(`[a-z0-9_]+(?:/[a-z0-9_]+)+`)

// layoutPaths reads the Layout block of docs/ARCHITECTURE.md and returns
// every directory it names, as paths from the repository root: the tree's
// entries (nested by indentation) and the paths their descriptions name
// (relative to the entry or to its parent).
func layoutPaths(t *testing.T, doc string) map[string]bool {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "## Layout")
	if !ok {
		t.Fatal("docs/ARCHITECTURE.md has no ## Layout section")
	}
	_, block, _ := strings.Cut(rest, "```\n")
	block, _, _ = strings.Cut(block, "```")
	type level struct {
		indent int
		path   string
	}
	var stack []level
	parent, cur := "", ""
	seen := map[string]bool{}
	for _, line := range strings.Split(block, "\n") {
		m := layoutEntry.FindStringSubmatch(line)
		if m == nil {
			// A continued description: its paths belong to the last entry.
			for _, p := range pathToken.FindAllString(line, -1) {
				seen[filepath.Join(parent, p)] = true
				seen[filepath.Join(cur, p)] = true
			}
			continue
		}
		indent := len(m[1])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		parent = ""
		if len(stack) > 0 {
			parent = stack[len(stack)-1].path
		}
		var last string
		for _, name := range strings.Split(m[2], ",") {
			name = strings.Trim(strings.TrimSpace(name), "/")
			if name == "" {
				continue
			}
			last = filepath.Join(parent, name)
			seen[last] = true
		}
		stack = append(stack, level{indent, last})
		cur = last
		for _, p := range pathToken.FindAllString(m[3], -1) {
			seen[filepath.Join(parent, p)] = true
			seen[filepath.Join(last, p)] = true
		}
	}
	return seen
}

// TestArchitectureMapNamesEveryPackage keeps docs/ARCHITECTURE.md's package
// map true: every directory under backend/internal that holds Go files is
// named in it.
func TestArchitectureMapNamesEveryPackage(t *testing.T) {
	t.Parallel()
	root := backendRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "..", "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	named := layoutPaths(t, string(doc))
	internal := filepath.Join(root, "internal")
	err = filepath.WalkDir(internal, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if n := d.Name(); n == "testdata" || n == "node_modules" || n == "dist" {
			return filepath.SkipDir
		}
		goFiles, _ := filepath.Glob(filepath.Join(path, "*.go"))
		if len(goFiles) == 0 {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if !named[filepath.ToSlash(filepath.Join("backend", rel))] {
			t.Errorf("docs/ARCHITECTURE.md's Layout does not name backend/%s: add it to the map", filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
