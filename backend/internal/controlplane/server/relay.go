package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/connlimit"
	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/logging"
)

// maxRelayBody bounds what a learner can send through the relay (file
// uploads); the workspace daemon enforces its own, smaller, limits.
const maxRelayBody = 128 << 20

// handleRelay forwards learner terminal and file traffic to the workshop's
// agent, so the browser talks to one origin. The workspace token is checked
// here and again by the agent.
func (s *Server) handleRelay(w http.ResponseWriter, r *http.Request) error {
	wsID, seat, err := seatOf(r)
	if err != nil {
		return err
	}
	raw := r.URL.Query().Get("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		raw = strings.TrimPrefix(h, "Bearer ")
	}
	if raw == "" {
		return apierror.Unauthorized("a workspace token is required")
	}
	rest := r.PathValue("rest")
	isTerminal := rest == "terminal" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	// A token already at its cap is refused first, before the token is
	// verified or anything is logged: a flood re-dialling one token costs
	// a hash and a map look-up per attempt (bench/flood).
	if isTerminal && s.terms.TokenFull(raw) {
		s.refuseTerminal(w, r, tokenFullReason)
		return nil
	}
	claims, err := s.verifySeatToken(raw, wsID, seat)
	if err != nil {
		return err
	}
	// Counted before anything costs a database read: a flood on one token
	// is refused cheaply.
	if isTerminal {
		release, err := s.terms.Acquire(raw, wsID+"/"+strconv.Itoa(seat))
		if err != nil {
			s.refuseTerminal(w, r, err.Error())
			return nil
		}
		defer release()
	}
	target, agentRT, err := s.relayAgent(r.Context(), wsID, seat)
	if err != nil {
		return err
	}
	learner := claims.Role == "" || claims.Role == "learner"
	// Tracked before the generation check, so that a revoke committed
	// after the check still finds (and closes) this request.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer s.live.track(wsID, seat, claims.Gen, cancel)()
	if learner {
		if err := s.checkGeneration(ctx, wsID, seat, claims.Gen); err != nil {
			return err
		}
	}
	r = r.WithContext(ctx)
	key := seatKey{wsID, seat, claims.Gen}
	if learner {
		opened := 0
		if isTerminal {
			opened = 1
		}
		s.activity.touch(key, opened, s.now())
	}
	if !learner && isTerminal {
		// The learner's page shows who is watching or typing.
		defer s.trackWatcher(ctx, r, wsID, seat, claims)()
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRelayBody)
	s.relayProxy(wsID, seat, rest, target, agentRT).ServeHTTP(w, r)
	if learner && isTerminal {
		// The terminal closed: the learner is no longer connected (unless
		// another of their terminals is still open here).
		s.activity.touch(key, -1, s.now())
	}
	return nil
}

// relayAgent is the agent the relay forwards the traffic of workshop
// wsID's seat to (the seat's host): its URL and the transport that
// reaches it (pinned to its certificate). 503 while the workshop, or the
// seat's host, does not run.
func (s *Server) relayAgent(ctx context.Context, wsID string, seat int) (*url.URL, http.RoundTripper, error) {
	ws, err := s.st.GetWorkshop(ctx, wsID)
	if err != nil {
		return nil, nil, answer(err, apierror.NotFound("workshop not found"))
	}
	if ws.Status != store.StatusRunning || ws.AgentURL == "" {
		return nil, nil, apierror.Unavailable("the workshop is %s; its machines are not ready", ws.Status)
	}
	if ws, err = s.seatHost(ctx, ws, seat); err != nil {
		return nil, nil, err
	}
	target, err := url.Parse(ws.AgentURL)
	if err != nil {
		return nil, nil, err
	}
	agentRT, err := s.relayTransport(ws)
	if err != nil {
		s.log.ErrorContext(ctx, "relay: agent link refused", "workshop", wsID, "err", err)
		return nil, nil, apierror.New(http.StatusBadGateway, "agent_unreachable", "the workshop's machine cannot be reached safely; ask the instructor")
	}
	return target, agentRT, nil
}

// relayProxy forwards a seat's request to its agent's /proxy route, noting
// how the agent answered (seathealth.go).
func (s *Server) relayProxy(wsID string, seat int, rest string, target *url.URL, agentRT http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = strings.TrimRight(target.Path, "/") + "/proxy/" + url.PathEscape(wsID) + "/" + strconv.Itoa(seat) + "/" + rest
			pr.Out.URL.RawPath = ""
			pr.Out.Host = target.Host
			// The agent checks Origin for CORS; the relay is same-origin.
			// The agent logs the request under the control plane's id.
			logging.SetRequestHeader(pr.In.Context(), pr.Out.Header)
			pr.Out.Header.Del("Origin")
			pr.Out.Header.Del("Cookie")
			pr.SetXForwarded()
		},
		Transport:     lazyUpgrades{agentRT},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			s.noteRelayStatus(wsID, seat, resp.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var tooBig *http.MaxBytesError
			if r.Context().Err() == nil && !errors.As(err, &tooBig) {
				s.noteRelayStatus(wsID, seat, http.StatusBadGateway)
			}
			s.log.WarnContext(r.Context(), "relay to agent failed", "workshop", wsID, "seat", seat, "err", err)
			apierror.Write(w, r, apierror.New(http.StatusBadGateway, "agent_unreachable", "the workshop's machine did not answer; try again in a moment"))
		},
	}
}

var tokenFullReason = fmt.Sprintf("this token already has %d terminal connections open; close other tabs", connlimit.PerToken)

// refuseTerminal closes a terminal WebSocket over its cap with 4409. It is
// counted (clarateach_terminal_refused_total), not logged per attempt: a
// flood re-dials thousands of times a second.
func (s *Server) refuseTerminal(w http.ResponseWriter, r *http.Request, reason string) {
	s.metrics.terminalRefused.Inc()
	if q, ok := w.(interface{ quiet() }); ok {
		q.quiet()
	}
	connlimit.RefuseWebSocket(w, r, connlimit.CloseTooManyConnections, reason)
}

// checkGeneration accepts a learner token only for the seat assignment it
// was issued for: the seat is still held, with the token's generation (a
// revoke deletes the seat row; a reissue and the next learner's
// assignment raise the generation).
func (s *Server) checkGeneration(ctx context.Context, wsID string, seat int, gen int64) error {
	_, err := s.seatAtGeneration(ctx, wsID, seat, gen)
	return err
}

// seatAtGeneration is the seat a learner token of generation gen opens:
// 401 when the seat is no longer held at that generation.
func (s *Server) seatAtGeneration(ctx context.Context, wsID string, seat int, gen int64) (*store.Seat, error) {
	st, err := s.st.GetSeat(ctx, wsID, seat)
	if errors.Is(err, store.ErrNotFound) || (err == nil && st.Generation != gen) {
		return nil, apierror.Unauthorized("this workspace token was revoked: join again with your access code")
	}
	return st, err
}

// seatOf is the workshop and seat of a /api/workspaces/{ws}/{seat}/... route.
func seatOf(r *http.Request) (string, int, error) {
	seat, err := strconv.Atoi(r.PathValue("seat"))
	if err != nil || seat < 1 {
		return "", 0, apierror.NotFound("no such seat")
	}
	return r.PathValue("ws"), seat, nil
}

// verifySeatToken checks a workspace token for one seat: 403 when it is for
// another seat, 401 when it is not valid.
func (s *Server) verifySeatToken(raw, wsID string, seat int) (*authtoken.Claims, error) {
	claims, err := authtoken.Verify(authtoken.WorkshopKey(s.wsKey, wsID), raw, wsID, seat, s.now())
	if errors.Is(err, authtoken.ErrMismatch) {
		return nil, apierror.Forbidden("this token is for another seat")
	}
	if err != nil {
		return nil, apierror.Unauthorized("workspace token: %v", err)
	}
	return claims, nil
}
