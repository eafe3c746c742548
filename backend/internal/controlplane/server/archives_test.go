package server_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// saveWork stores an archive of the learner's work as the reconciler
// would (object in the blob store, row in the store).
func saveWork(t *testing.T, e *testEnv, regID string, seat int, content string, at time.Time, restored bool) *store.Archive {
	t.Helper()
	ctx := context.Background()
	reg, err := e.st.GetRegistration(ctx, regID)
	if err != nil {
		t.Fatal(err)
	}
	key := "workshops/" + reg.WorkshopID + "/" + regID + "/" + at.Format("150405") + ".tar.gz"
	n, err := e.arc.Blobs().Put(ctx, key, strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	a := &store.Archive{WorkshopID: reg.WorkshopID, RegistrationID: regID, Seat: seat, BlobKey: key, SizeBytes: n, Reason: "end", CreatedAt: at}
	if restored {
		a.RestoredAt = &at
	}
	if err := e.st.AddArchive(ctx, a); err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *testEnv) form(path, accessCode string) resp {
	e.t.Helper()
	res, err := http.PostForm(e.http.URL+path, url.Values{"access_code": {accessCode}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

// TestTakeWorkHome: after the end, the access code still downloads the
// learner's newest saved work (JSON or a plain form); the join says when a
// restored machine's work was saved; the instructor downloads everyone's
// work as one tar and purges it.
func TestTakeWorkHome(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine)
			tok := e.instructor("ada@example.com")
			id, code := e.workshop(tok, 3)
			r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": code, "name": "Lea", "email": "lea@example.com"})
			access := r.json(t)["access_code"].(string)
			j := e.call("POST", "/api/join", "", map[string]string{"access_code": access})
			if j.Status != http.StatusOK || j.json(t)["restored_from"] != nil {
				t.Fatalf("join before any restore: %d %s", j.Status, j.Body)
			}
			reg, err := e.st.GetRegistrationByAccessCode(context.Background(), access)
			if err != nil {
				t.Fatal(err)
			}

			// No saved work yet: a clear 404.
			if d := e.call("POST", "/api/download", "", map[string]string{"access_code": access}); d.Status != http.StatusNotFound {
				t.Fatalf("download before any save: %d %s", d.Status, d.Body)
			}
			saveWork(t, e, reg.ID, 1, "older work", e.clock().Add(-time.Hour), false)
			saved := saveWork(t, e, reg.ID, 1, "the newest work", e.clock().Add(-10*time.Minute), true)

			// The machine was restored from that save: the join says from when.
			j = e.call("POST", "/api/join", "", map[string]string{"access_code": access})
			if got, _ := j.json(t)["restored_from"].(string); got != saved.CreatedAt.Format(time.RFC3339Nano) && got != saved.CreatedAt.Format(time.RFC3339) {
				t.Fatalf("restored_from = %q, want %s", got, saved.CreatedAt.Format(time.RFC3339))
			}

			// The workshop ends: joining is over, the download still works.
			if _, err := e.st.UpdateWorkshop(context.Background(), id, func(w *store.Workshop) error {
				end := e.clock().Add(-time.Minute)
				w.EndsAt, w.DesiredState, w.Status = &end, store.DesiredStopped, store.StatusStopped
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if j := e.call("POST", "/api/join", "", map[string]string{"access_code": access}); j.Status != http.StatusGone {
				t.Fatalf("join after the end: %d", j.Status)
			}
			d := e.call("POST", "/api/download", "", map[string]string{"access_code": strings.ToLower(access)})
			if d.Status != http.StatusOK || string(d.Body) != "the newest work" || d.Header.Get("Content-Type") != "application/gzip" ||
				!strings.Contains(d.Header.Get("Content-Disposition"), "attachment") {
				t.Fatalf("download after the end: %d %v %q", d.Status, d.Header, d.Body)
			}
			if f := e.form("/api/download", access); f.Status != http.StatusOK || string(f.Body) != "the newest work" {
				t.Fatalf("download with a form: %d %q", f.Status, f.Body)
			}
			if d := e.call("POST", "/api/download", "", map[string]string{"access_code": "NOTACODE1234"}); d.Status != http.StatusNotFound {
				t.Fatalf("download with a wrong code: %d", d.Status)
			}
			if d := e.call("POST", "/api/download", "", map[string]string{}); d.Status != http.StatusBadRequest {
				t.Fatalf("download without a code: %d", d.Status)
			}

			// The instructor: everyone's newest work in one tar; others: no.
			other := e.instructor("bob@example.com")
			if r := e.call("GET", "/api/workshops/"+id+"/archives.tar", other, nil); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
				t.Fatalf("another instructor's archives.tar: %d", r.Status)
			}
			all := e.call("GET", "/api/workshops/"+id+"/archives.tar", tok, nil)
			if all.Status != http.StatusOK {
				t.Fatalf("archives.tar: %d %s", all.Status, all.Body)
			}
			tr := tar.NewReader(bytes.NewReader(all.Body))
			h, err := tr.Next()
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(tr)
			if h.Name != "seat-01-lea@example.com.tar.gz" || string(body) != "the newest work" {
				t.Fatalf("archives.tar entry %q = %q", h.Name, body)
			}
			if _, err := tr.Next(); err != io.EOF {
				t.Fatalf("archives.tar has more than the newest archive per learner: %v", err)
			}

			// Purge: gone for everyone.
			if r := e.call("DELETE", "/api/workshops/"+id+"/archives", other, nil); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
				t.Fatalf("another instructor's purge: %d", r.Status)
			}
			p := e.call("DELETE", "/api/workshops/"+id+"/archives", tok, nil)
			if p.Status != http.StatusOK || p.json(t)["deleted"] != float64(2) {
				t.Fatalf("purge: %d %s", p.Status, p.Body)
			}
			if d := e.call("POST", "/api/download", "", map[string]string{"access_code": access}); d.Status != http.StatusNotFound {
				t.Fatalf("download after the purge: %d", d.Status)
			}
		})
	}
}
