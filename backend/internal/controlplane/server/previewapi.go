package server

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/api"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// The API side of previews (on the app's origin, with the seat's
// workspace token): a link that opens a port's preview, and the learner's
// share links. The preview origin itself is preview.go.

// previewSeat is the caller of a preview API route: a valid workspace
// token for the seat; a learner's at the seat's current generation.
func (s *Server) previewSeat(r *http.Request) (wsID string, seat int, claims *authtoken.Claims, err error) {
	wsID, seat, err = seatOf(r)
	if err != nil {
		return "", 0, nil, err
	}
	if s.cfg.PreviewDomain == "" {
		return "", 0, nil, apierror.New(http.StatusNotFound, "previews_off", "previews are off on this server (PREVIEW_DOMAIN)")
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return "", 0, nil, apierror.Unauthorized("a workspace token is required (Authorization: Bearer)")
	}
	claims, err = s.verifySeatToken(raw, wsID, seat)
	if err != nil {
		return "", 0, nil, err
	}
	if claims.Role == "" || claims.Role == "learner" {
		claims.Role = "learner"
		if err := s.checkGeneration(r.Context(), wsID, seat, claims.Gen); err != nil {
			return "", 0, nil, err
		}
	}
	return wsID, seat, claims, nil
}

func decodePort(w http.ResponseWriter, r *http.Request) (int, error) {
	var req api.PreviewPort
	if err := apierror.Decode(w, r, &req, defaultBodyLimit); err != nil {
		return 0, err
	}
	if req.Port < 1 || req.Port > 65535 {
		return 0, apierror.Invalid("port must be 1..65535")
	}
	return req.Port, nil
}

// handlePreviewOpen answers POST /api/workspaces/{ws}/{seat}/preview
// {port}: a link to the preview origin that signs the caller in there
// (the seat's learner, or an instructor or TA with a seat token).
func (s *Server) handlePreviewOpen(w http.ResponseWriter, r *http.Request) error {
	wsID, seat, claims, err := s.previewSeat(r)
	if err != nil {
		return err
	}
	port, err := decodePort(w, r)
	if err != nil {
		return err
	}
	c := authtoken.PreviewClaims{WorkshopID: wsID, Seat: seat, Port: port, Role: claims.Role, Gen: claims.Gen, Use: authtoken.PreviewOpen}
	tok, exp, err := authtoken.IssuePreview(authtoken.PreviewKey(s.wsKey, wsID), c, previewOpenTTL, s.now())
	if err != nil {
		return err
	}
	origin := s.cfg.PreviewOrigin(wsID, seat, port)
	apierror.JSON(w, http.StatusOK, api.PreviewOpen{
		URL:       origin + previewReserved + "open?t=" + url.QueryEscape(tok),
		Origin:    origin,
		ExpiresAt: exp,
	})
	return nil
}

func (s *Server) toPreviewShare(sh *store.PreviewShare) api.PreviewShare {
	return api.PreviewShare{ID: sh.ID, Port: sh.Port, Origin: s.cfg.PreviewOrigin(sh.WorkshopID, sh.Seat, sh.Port), CreatedAt: sh.CreatedAt}
}

// handleCreateShare answers POST /api/workspaces/{ws}/{seat}/shares
// {port}: the seat's learner makes a port public to whoever holds the
// link (shown only here), until they revoke it.
func (s *Server) handleCreateShare(w http.ResponseWriter, r *http.Request) error {
	wsID, seat, claims, err := s.previewSeat(r)
	if err != nil {
		return err
	}
	if claims.Role != "learner" {
		return apierror.Forbidden("only the seat's learner shares its ports")
	}
	port, err := decodePort(w, r)
	if err != nil {
		return err
	}
	secret := authtoken.Random(24)
	sum := sha256.Sum256([]byte(secret))
	sh := &store.PreviewShare{WorkshopID: wsID, Seat: seat, Port: port, Generation: claims.Gen, SecretHash: hex.EncodeToString(sum[:])}
	if err := s.st.CreatePreviewShare(r.Context(), sh); err != nil {
		return answer(err, apierror.Conflict("too_many_shares", "a seat keeps at most %d share links; revoke one first", store.MaxPreviewShares),
			apierror.NotFound("workshop not found"))
	}
	out := s.toPreviewShare(sh)
	out.URL = out.Origin + previewReserved + "share/" + sh.ID + "/" + secret
	apierror.JSON(w, http.StatusCreated, out)
	return nil
}

// handleListShares answers GET /api/workspaces/{ws}/{seat}/shares (the
// seat's share links made at the current assignment; no URLs).
func (s *Server) handleListShares(w http.ResponseWriter, r *http.Request) error {
	wsID, seat, _, err := s.previewSeat(r)
	if err != nil {
		return err
	}
	rows, err := s.st.ListPreviewShares(r.Context(), wsID, seat)
	if err != nil {
		return err
	}
	st, err := s.st.GetSeat(r.Context(), wsID, seat)
	out := api.PreviewShareList{Shares: []api.PreviewShare{}}
	for i := range rows {
		if err == nil && rows[i].Generation == st.Generation {
			out.Shares = append(out.Shares, s.toPreviewShare(&rows[i]))
		}
	}
	apierror.JSON(w, http.StatusOK, out)
	return nil
}

// handleDeleteShare answers DELETE /api/workspaces/{ws}/{seat}/shares/{sid}:
// the link stops working at once (every preview request checks it).
func (s *Server) handleDeleteShare(w http.ResponseWriter, r *http.Request) error {
	wsID, seat, _, err := s.previewSeat(r)
	if err != nil {
		return err
	}
	if err := s.st.DeletePreviewShare(r.Context(), wsID, seat, r.PathValue("sid")); err != nil {
		return answer(err, apierror.NotFound("no such share link"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
