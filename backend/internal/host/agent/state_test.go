package agent

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/host/seatruntime"
)

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// A seat file is written through a spare made when the state directory is
// opened (no file created on a seat's create), and a deleted seat's file
// becomes a spare again; spares are not seats, and what a spare held
// before never shows in the seat file written through it.
func TestSeatFileWrittenThroughSpare(t *testing.T) {
	dir := t.TempDir()
	st, err := openStateDir(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	spares := map[uint64]bool{}
	ents, _ := os.ReadDir(st.seatsDir())
	for _, e := range ents {
		spares[inode(t, filepath.Join(st.seatsDir(), e.Name()))] = true
	}
	if len(spares) != 2 {
		t.Fatalf("%d files in the new state directory, want 2 spares", len(spares))
	}

	long := &seatruntime.Seat{WorkshopID: "ws", Seat: 1, Runtime: "sandbox", PID: 42, Dir: strings.Repeat("/long", 40),
		Network: "unix", Address: "/x/sock", CreatedAt: time.Unix(1, 0).UTC()}
	if err := st.saveSeat(long); err != nil {
		t.Fatal(err)
	}
	seatFile := st.seatFile(seatKey{"ws", 1})
	ino := inode(t, seatFile)
	if !spares[ino] {
		t.Fatal("the seat file is a new file, not one of the spares")
	}
	if err := st.removeSeat(seatKey{"ws", 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(seatFile); !os.IsNotExist(err) {
		t.Fatalf("seat file still there after removeSeat: %v", err)
	}

	// Another agent on the same directory finds the spares (the deleted
	// seat's file among them) and writes the next seat file through one.
	st2, err := openStateDir(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	short := &seatruntime.Seat{WorkshopID: "ws", Seat: 2, Runtime: "sandbox", PID: 43, Network: "unix", Address: "/y/sock",
		CreatedAt: time.Unix(2, 0).UTC()}
	for range 2 { // both spares, the deleted seat's file one of them
		if err := st2.saveSeat(short); err != nil {
			t.Fatal(err)
		}
	}
	if err := st2.saveSeat(&seatruntime.Seat{WorkshopID: "ws", Seat: 3, Runtime: "sandbox", Network: "unix", Address: "/z"}); err != nil {
		t.Fatal(err) // no spare left: a temp file as before
	}
	ents, _ = os.ReadDir(st2.seatsDir())
	if len(ents) != 2 {
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("state dir holds %v, want the two seat files only", names)
	}
	recs, err := st2.loadSeats(quietLog)
	if err != nil || len(recs) != 2 || recs[0].Seat != 2 || recs[0].PID != 43 || recs[0].Dir != "" || recs[1].Seat != 3 {
		t.Fatalf("loadSeats = %+v, %v", recs, err)
	}
}

// TestSparesBoundedAcrossAgents: an agent keeps at most its own number of
// spare seat files, whatever an earlier agent on the directory kept.
func TestSparesBoundedAcrossAgents(t *testing.T) {
	dir := t.TempDir()
	if _, err := openStateDir(dir, 5); err != nil {
		t.Fatal(err)
	}
	st, err := openStateDir(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(st.seatsDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 || len(st.spares) != 2 {
		t.Fatalf("%d files and %d spares after an agent of 5 spares and one of 2, want 2", len(ents), len(st.spares))
	}
}
