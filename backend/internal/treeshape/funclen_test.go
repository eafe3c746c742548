package treeshape

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxFuncLines is the longest a production function may be, signature and
// closing brace included.
const maxFuncLines = 100

// longFuncAllowed lists the production functions that may be longer than
// maxFuncLines, each with the reason. Key: path from backend/ and the
// function's name (Recv.Method for methods).
var longFuncAllowed = map[string]string{
	"bench/agent/main.go:run": "to split: the seat-start benchmark's driver (flags, runs, report) in one function",
	"internal/host/seatruntime/firecracker/fcfake/fcfake.go:Server.handle": "to split: the fake Firecracker's route switch",
}

// funcLen is one function of the tree and its length in lines.
type funcLen struct {
	key   string // "path:Name"
	lines int
}

// productionFuncs parses every non-test .go file under backend/ and returns
// its functions, longest first.
func productionFuncs(t *testing.T) []funcLen {
	t.Helper()
	root := backendRoot(t)
	var out []funcLen
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "node_modules" || (strings.HasPrefix(n, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			out = append(out, funcLen{key: filepath.ToSlash(rel) + ":" + funcName(fd), lines: n})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].lines != out[j].lines {
			return out[i].lines > out[j].lines
		}
		return out[i].key < out[j].key
	})
	return out
}

// funcName is Name for a function and Recv.Name for a method.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	typ := fd.Recv.List[0].Type
	for {
		switch x := typ.(type) {
		case *ast.StarExpr:
			typ = x.X
			continue
		case *ast.IndexExpr:
			typ = x.X
			continue
		case *ast.IndexListExpr:
			typ = x.X
			continue
		case *ast.Ident:
			return x.Name + "." + fd.Name.Name
		}
		return fd.Name.Name
	}
}

// backendRoot is the module root: the directory of go.mod above this one.
func backendRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func TestNoLongFunctions(t *testing.T) {
	t.Parallel()
	funcs := productionFuncs(t)
	seen := map[string]bool{}
	for _, f := range funcs {
		seen[f.key] = true
		if f.lines <= maxFuncLines {
			continue
		}
		if _, ok := longFuncAllowed[f.key]; ok {
			continue
		}
		t.Errorf("%s is %d lines (at most %d): split it into named steps, or add it to longFuncAllowed with the reason", f.key, f.lines, maxFuncLines)
	}
	for key := range longFuncAllowed {
		if !seen[key] {
			t.Errorf("longFuncAllowed names %s, which no longer exists: remove the entry", key)
		}
	}
	for _, f := range funcs {
		if _, ok := longFuncAllowed[f.key]; ok && f.lines <= maxFuncLines {
			t.Errorf("longFuncAllowed names %s, which is %d lines now: remove the entry", f.key, f.lines)
		}
	}
	if testing.Verbose() {
		for _, f := range funcs[:min(10, len(funcs))] {
			t.Logf("%4d %s", f.lines, f.key)
		}
	}
}
