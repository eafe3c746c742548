package confine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clarateach/backend/internal/seat/files/confine/confinetest"
)

func TestClean(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"", ".", nil}, {".", ".", nil}, {"./a/b/", "a/b", nil}, {"a//b", "a/b", nil}, {"a/./b", "a/b", nil},
		{"..", "", ErrEscape}, {"../x", "", ErrEscape}, {"a/../b", "", ErrEscape}, {"a/..", "", ErrEscape},
		{"/etc/passwd", "", ErrEscape}, {"//x", "", ErrEscape}, {"a\x00b", "", ErrInvalid},
		{strings.Repeat("a", MaxPathLen+1), "", ErrInvalid}, {`..\x`, `..\x`, nil}, {"...", "...", nil},
	} {
		got, err := Clean(tc.in)
		if got != tc.want || err != tc.err {
			t.Errorf("Clean(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestSymlinkSwapRace swaps a directory for a symlink to the outside while
// reads run through it: not one read may return the outside file.
func TestSymlinkSwapRace(t *testing.T) {
	t.Parallel()
	base, root := confinetest.Fixture(t)
	f, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inside := filepath.Join(root, "swap")
	if err := os.MkdirAll(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inside, "secret.txt"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		parked := filepath.Join(root, "swap-parked")
		link := filepath.Join(root, "swap-link")
		_ = os.Symlink(filepath.Join(base, "outside"), link)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.Rename(inside, parked)
			_ = os.Rename(link, inside) // now swap -> outside
			_ = os.Rename(inside, link)
			_ = os.Rename(parked, inside)
		}
	}()
	reads := 0
	for i := 0; i < 3000; i++ {
		p, err := f.Resolve("swap/secret.txt")
		if err != nil {
			continue
		}
		reads++
		if !strings.HasPrefix(p, f.Dir()+"/") {
			close(stop)
			<-done
			t.Fatalf("resolved outside the root: %s", p)
		}
	}
	close(stop)
	<-done
	t.Logf("%d successful resolutions under concurrent swaps", reads)
}
