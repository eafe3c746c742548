package server

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// handleDownload streams a learner's newest saved work (.tar.gz) for their
// access code: during the workshop and, after it ends, for the archive
// retention. The code comes as JSON {"access_code"} or as a form field
// access_code (a plain HTML form downloads straight to disk). Failed codes
// are slowed down like wrong codes at join.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) error {
	if s.archives == nil {
		return apierror.Unavailable("saving learners' work is not configured on this server")
	}
	code, err := accessCodeOf(w, r)
	if err != nil {
		return err
	}
	reg, ws, err := s.learnerByCode(w, r, code)
	if err != nil {
		return err
	}
	if ws.DesiredState == store.DesiredDeleted {
		return apierror.Gone("this workshop has been deleted, and the work saved in it with it")
	}
	arc, body, err := s.archives.Latest(r.Context(), reg.ID)
	if err != nil {
		return answer(err, apierror.NotFound("no saved work yet: work is saved every few minutes while the workshop runs, and when it ends"))
	}
	defer body.Close()
	name := fmt.Sprintf("%s-%s.tar.gz", fileSafe(ws.Name), arc.CreatedAt.UTC().Format("20060102-1504"))
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set("Content-Length", fmt.Sprint(arc.SizeBytes))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Archive-Created-At", arc.CreatedAt.UTC().Format(time.RFC3339))
	if _, err := io.Copy(w, body); err != nil {
		panic(http.ErrAbortHandler) // the status is sent; a cut stream tells the client
	}
	return nil
}

// accessCodeOf reads access_code from a JSON body or a form.
func accessCodeOf(w http.ResponseWriter, r *http.Request) (string, error) {
	var raw string
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, authBodyLimit)
		if err := r.ParseForm(); err != nil {
			return "", apierror.BadRequest("cannot read the form: %v", err)
		}
		raw = r.PostForm.Get("access_code")
	} else {
		var req struct {
			AccessCode string `json:"access_code"`
		}
		if err := apierror.Decode(w, r, &req, authBodyLimit); err != nil {
			return "", err
		}
		raw = req.AccessCode
	}
	code := authtoken.NormalizeCode(raw)
	if code == "" {
		return "", apierror.Invalid("access_code is required")
	}
	return code, nil
}

func fileSafe(s string) string {
	out := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
	if out = strings.Trim(out, "-"); out == "" || len(out) > 60 {
		out = "workshop"
	}
	return out
}

// handleWorkshopArchivesTar streams one .tar holding every learner's newest
// saved work (each a .tar.gz) to the instructor.
func (s *Server) handleWorkshopArchivesTar(w http.ResponseWriter, r *http.Request) error {
	if s.archives == nil {
		return apierror.Unavailable("saving learners' work is not configured on this server")
	}
	ws := workshopFrom(r.Context())
	list, err := s.st.ListArchives(r.Context(), store.ArchiveFilter{WorkshopID: ws.ID})
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return apierror.NotFound("this workshop has no saved work")
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fileSafe(ws.Name) + "-work.tar"}))
	w.Header().Set("Cache-Control", "no-store")
	if _, err := s.archives.WriteWorkshopTar(r.Context(), w, ws.ID); err != nil {
		panic(http.ErrAbortHandler)
	}
	return nil
}

// handlePurgeArchives deletes every saved copy of the workshop's learners'
// work, at once.
func (s *Server) handlePurgeArchives(w http.ResponseWriter, r *http.Request) error {
	if s.archives == nil {
		return apierror.Unavailable("saving learners' work is not configured on this server")
	}
	ws := workshopFrom(r.Context())
	n, err := s.archives.PurgeWorkshop(r.Context(), ws.ID)
	if err != nil {
		return err
	}
	s.event(r, ws.ID, "warn", "", fmt.Sprintf("%d archives of the learners' work deleted by %s", n, userFrom(r.Context()).Email))
	apierror.JSON(w, http.StatusOK, api.ArchivesDeleted{Deleted: n})
	return nil
}
