package seatinit

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/host/seatruntime/sandbox/seatpid1"
)

// TestPID1KnowsTheWireTags: clarateach-seat-pid1 (C, package seatpid1)
// reads the wire format with its own list of tags, which must be this
// package's, in the same order (a tag is its position).
func TestPID1KnowsTheWireTags(t *testing.T) {
	src, err := os.ReadFile("wire.go")
	if err != nil {
		t.Fatal(err)
	}
	goBlock := regexp.MustCompile(`(?s)tagRoot byte = iota \+ 1(.*?)\n\)`).FindSubmatch(src)
	cBlock := regexp.MustCompile(`(?s)enum \{\s*(tagRoot = 1.*?)\};`).FindSubmatch(seatpid1.Source)
	if goBlock == nil || cBlock == nil {
		t.Fatalf("tag lists not found (Go %v, C %v)", goBlock != nil, cBlock != nil)
	}
	word := regexp.MustCompile(`tag[A-Za-z0-9]+`)
	goTags := append([]string{"tagRoot"}, words(word, string(goBlock[1]))...)
	cTags := words(word, string(cBlock[1]))
	if !slices.Equal(goTags, cTags) {
		t.Errorf("wire tags differ:\n Go %v\n  C %v", goTags, cTags)
	}
	if len(goTags) != int(tagLauncherELF) {
		t.Errorf("%d tags listed, the last Go tag is %d", len(goTags), tagLauncherELF)
	}
}

func words(re *regexp.Regexp, s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		out = append(out, re.FindAllString(line, -1)...)
	}
	return out
}
