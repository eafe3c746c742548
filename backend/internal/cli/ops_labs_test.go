package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLabsValidate(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"labs", "validate", "../controlplane/lab/testdata/instruqt"}, &out, &errb); code != 0 {
		t.Fatalf("valid lab: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), `instruqt lab "Shell basics" is valid: 2 steps`) || !strings.Contains(out.String(), "warning: ") {
		t.Fatalf("output:\n%s", out.String())
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lab.yaml"), []byte("title: T\nsteps:\n  - title: one\n    text: one.md\n  - text: two.md\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "two.md"), []byte("two"), 0o644)
	out.Reset()
	errb.Reset()
	if code := Main([]string{"labs", "validate", dir}, &out, &errb); code != 1 {
		t.Fatalf("broken lab: exit %d", code)
	}
	for _, want := range []string{`lab.yaml:3: step 1 text "one.md": no such file in the lab`, "lab.yaml:5: step 2 has no title"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	Main([]string{"labs", "validate", "--json", dir}, &out, &errb)
	var got labCheckOut
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Valid || len(got.Problems) != 2 {
		t.Fatalf("json: %v %s", err, out.String())
	}

	// pack turns a Killercoda scenario into a lab archive that validates.
	packed := filepath.Join(dir, "git.tar.gz")
	out.Reset()
	if code := Main([]string{"labs", "pack", "../controlplane/lab/testdata/killercoda", "-o", packed}, &out, &errb); code != 0 {
		t.Fatalf("pack: exit %d %s", code, errb.String())
	}
	out.Reset()
	if code := Main([]string{"labs", "validate", packed}, &out, &errb); code != 0 || !strings.Contains(out.String(), `clarateach lab "Git basics" is valid: 4 steps`) {
		t.Fatalf("packed lab: exit %d\n%s", code, out.String())
	}
}
