package server_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/config"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// A class of 500: the progress matrix and its CSV are right for every
// learner (steps done, failing checks, current step, time per step, name,
// email, join time), and each answers in a fixed number of store round
// trips, the same as for a class of 5.
func TestProgressMatrix500(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, func(c *config.Config) { c.MaxSeats = 500 })
			small := progressClass(t, e, 5)
			big := progressClass(t, e, 500)
			cs := newCountingStore(e.st)
			srv := server.New(server.Deps{Config: e.cfg, Store: cs, Now: e.clock, Logger: slog.New(slog.DiscardHandler), Version: "test"})
			h := httptest.NewServer(srv.Handler())
			defer h.Close()

			calls := map[string]int{}
			for _, c := range []*class{small, big} {
				for _, path := range []string{"/progress", "/progress.csv"} {
					cs.take()
					r := e.callAt(h.URL, "GET", "/api/workshops/"+c.id+path, c.inst, nil)
					if r.Status != http.StatusOK {
						t.Fatalf("%s of %d: %d %s", path, c.n, r.Status, r.Body)
					}
					n, by := cs.take()
					if prev, ok := calls[path]; ok && n != prev {
						t.Errorf("%s: %d store calls for %d learners, %d for 5: it grows with the class (%v)", path, n, c.n, prev, by)
					}
					calls[path] = n
					if n > 10 {
						t.Errorf("%s: %d store calls (%v)", path, n, by)
					}
					if path == "/progress" {
						c.checkMatrix(t, r.json(t))
					} else {
						c.checkCSV(t, string(r.Body))
					}
				}
			}
		})
	}
}

// class is a workshop with n learners and lab progress made for the test:
// learner i has step "make" done in i+1 minutes when i is even, its check
// failing i%3+1 times when i is odd; step "chmod" entered by every
// learner whose index is a multiple of 4.
type class struct {
	id, inst string
	n        int
	entered  time.Time
	regs     map[string]int // registration id -> learner index
	joined   map[int]time.Time
}

func progressClass(t *testing.T, e *testEnv, n int) *class {
	t.Helper()
	ctx := context.Background()
	c := &class{n: n, regs: map[string]int{}, joined: map[int]time.Time{}, entered: e.clock().Add(-time.Hour)}
	c.inst = e.instructor(fmt.Sprintf("matrix%d@example.com", n))
	up := e.call("POST", "/api/labs", c.inst, nativeLab(t, nil), "Content-Type", "application/gzip")
	labID := up.json(t)["lab"].(map[string]any)["id"].(string)
	c.id, _ = e.workshop(c.inst, n)
	if r := e.call("PUT", "/api/workshops/"+c.id+"/lab", c.inst, map[string]any{"lab_id": labID}); r.Status != http.StatusOK {
		t.Fatalf("set lab: %d %s", r.Status, r.Body)
	}
	for i := range n {
		reg, _, err := e.st.Register(ctx, &store.Registration{WorkshopID: c.id, Name: fmt.Sprintf("Learner %03d", i), Email: fmt.Sprintf("l%03d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		c.regs[reg.ID], c.joined[i] = i, reg.CreatedAt
		if _, err := e.st.AssignSeat(ctx, reg.ID); err != nil {
			t.Fatal(err)
		}
		p := &store.Progress{WorkshopID: c.id, RegistrationID: reg.ID, StepID: "make", Status: store.ProgressCurrent, EnteredAt: c.entered}
		if i%2 == 0 {
			done := c.entered.Add(time.Duration(i+1) * time.Minute)
			p.Status, p.Attempts, p.DoneAt = store.ProgressDone, 1, &done
		} else {
			p.Status, p.Attempts, p.Message = store.ProgressFailing, i%3+1, "hello.sh is not there yet"
		}
		if err := e.st.SaveProgress(ctx, p); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if err := e.st.SaveProgress(ctx, &store.Progress{WorkshopID: c.id, RegistrationID: reg.ID, StepID: "chmod", Status: store.ProgressCurrent, EnteredAt: c.entered.Add(time.Duration(i+1) * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

func (c *class) checkMatrix(t *testing.T, m map[string]any) {
	t.Helper()
	learners := m["learners"].([]any)
	if len(learners) != c.n {
		t.Fatalf("matrix of %d has %d learners", c.n, len(learners))
	}
	for _, x := range learners {
		lp := x.(map[string]any)
		i, ok := c.regs[lp["registration_id"].(string)]
		if !ok {
			t.Fatalf("a learner not in the class: %v", lp)
		}
		wantDone, wantFailed, wantCur := 0, float64(i%3+1), "make"
		if i%2 == 0 {
			wantDone, wantFailed, wantCur = 1, 0, "chmod"
		}
		if lp["steps_done"] != float64(wantDone) || lp["failed_checks"] != wantFailed || lp["current_step"] != wantCur || lp["name"] != fmt.Sprintf("Learner %03d", i) {
			t.Fatalf("learner %d of %d: %v (want done %d, failed %v, current %s)", i, c.n, lp, wantDone, wantFailed, wantCur)
		}
	}
}

func (c *class) checkCSV(t *testing.T, body string) {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != c.n+1 {
		t.Fatalf("csv of %d has %d rows", c.n, len(rows))
	}
	if got := strings.Join(rows[0], ","); got != "name,email,seat,joined_at,steps_done,seconds:make,seconds:chmod,seconds:step-3" {
		t.Fatalf("csv header: %s", got)
	}
	byEmail := map[string][]string{}
	for _, r := range rows[1:] {
		byEmail[r[1]] = r
	}
	for i := 0; i < c.n; i += 37 {
		r := byEmail[fmt.Sprintf("l%03d@example.com", i)]
		if r == nil {
			t.Fatalf("learner %d is not in the csv", i)
		}
		joined, err := time.Parse(time.RFC3339, r[3])
		if err != nil || joined.Unix() != c.joined[i].Unix() {
			t.Fatalf("learner %d joined_at %q, want %v", i, r[3], c.joined[i])
		}
		wantDone, wantMake := "0", "" // failing: entered to now, at least the hour
		if i%2 == 0 {
			wantDone, wantMake = "1", strconv.Itoa((i+1)*60)
		}
		secs, _ := strconv.Atoi(r[5])
		if r[0] != fmt.Sprintf("Learner %03d", i) || r[4] != wantDone || (wantMake != "" && r[5] != wantMake) || (wantMake == "" && secs < 3600) {
			t.Fatalf("learner %d csv row %v (want steps_done %s, make seconds %q)", i, r, wantDone, wantMake)
		}
		if (i%4 == 0) != (r[6] != "") || r[7] != "" {
			t.Fatalf("learner %d chmod/step-3 seconds: %v", i, r)
		}
	}
}
