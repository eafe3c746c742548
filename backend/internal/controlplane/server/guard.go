package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/ratelimit"
)

// Guessing limits. None of them ever refuses a right answer: a valid code is
// always looked up and served, and a right password is always checked. They
// slow down whoever keeps failing; docs/ARCHITECTURE.md ("Guessing") has the
// arithmetic.
type guards struct {
	// code: wrong workshop or access codes, per client address. After 10
	// free failures its wrong answers go out one at a time, 0.25 s doubling
	// to 8 s apart; one failure is forgiven per minute.
	code *ratelimit.Tarpit
	// loginPair: failed passwords per (account, address). An address with 3
	// or more recent failures on an account is "failing" on it and must take
	// the account's turn; the owner's own address stays fast.
	loginPair *ratelimit.Tarpit
	// loginAcct: failed passwords per account, from any address. Attempts of
	// failing addresses on the account go one at a time, up to 8 s apart.
	loginAcct *ratelimit.Tarpit
	// loginAddr: failed passwords per address over all accounts
	// (credential stuffing): after 20, one at a time, up to 8 s apart.
	loginAddr *ratelimit.Tarpit
}

func newGuards(now func() time.Time, sleep func(context.Context, time.Duration) error) guards {
	mk := func(free int, base, max, forgive time.Duration, waiters int) *ratelimit.Tarpit {
		return &ratelimit.Tarpit{Free: free, Base: base, Max: max, Forgive: forgive, MaxWaiters: waiters, Now: now, Sleep: sleep}
	}
	return guards{
		code:      mk(10, 250*time.Millisecond, 8*time.Second, time.Minute, 8),
		loginPair: mk(3, 0, 0, 20*time.Minute, 0),
		loginAcct: mk(5, time.Second, 8*time.Second, time.Minute, 64),
		loginAddr: mk(20, time.Second, 8*time.Second, time.Minute, 16),
	}
}

// addrKey is the unit an attacker pays for: an IPv4 address, or an IPv6 /64
// (one subscriber's prefix).
func addrKey(ip string) string {
	a := net.ParseIP(ip)
	if a == nil || a.To4() != nil {
		return ip
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// tooMany answers a request that the tarpit could not queue.
func tooMany(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ratelimit.ErrBusy) {
		w.Header().Set("Retry-After", "8")
		apierror.Write(w, r, apierror.TooManyRequests("too many failed attempts from your address are waiting; try again in a few seconds"))
		return
	}
	// The client went away while it waited.
	apierror.Write(w, r, apierror.New(499, "canceled", "request canceled"))
}

// wrongCode delays the answer to a wrong code from r's address as its
// failures earn, and records the failure. It returns false when r was
// answered already (too many of the address's wrong answers waiting).
func (s *Server) wrongCode(w http.ResponseWriter, r *http.Request) bool {
	key := addrKey(s.clientIP(r))
	turn, err := s.guard.code.Enter(r.Context(), key)
	if err != nil {
		// Still a failure, whether the client gave up waiting or too
		// many of its wrong answers were queued.
		s.guard.code.Record(key, true)
		tooMany(w, r, err)
		return false
	}
	turn.Done(true)
	return true
}

// loginTurn waits until a password attempt on email from r's address may be
// checked, and returns the function that records its outcome. Attempts from
// an address that has not been failing on the account are never delayed.
func (s *Server) loginTurn(r *http.Request, email string) (func(failed bool), error) {
	addr := addrKey(s.clientIP(r))
	pair := email + " " + addr
	g := s.guard
	var addrTurn, acctTurn *ratelimit.Turn
	var err error
	if g.loginAddr.Failing(addr) {
		if addrTurn, err = g.loginAddr.Enter(r.Context(), addr); err != nil {
			return nil, err
		}
	}
	if g.loginPair.Failing(pair) {
		if acctTurn, err = g.loginAcct.Enter(r.Context(), email); err != nil {
			if addrTurn != nil {
				addrTurn.Done(false)
			}
			return nil, err
		}
	}
	return func(failed bool) {
		finish := func(t *ratelimit.Turn, tp *ratelimit.Tarpit, key string) {
			if t != nil {
				t.Done(failed)
			} else if failed {
				tp.Record(key, true)
			}
		}
		finish(acctTurn, g.loginAcct, email)
		finish(addrTurn, g.loginAddr, addr)
		if failed {
			g.loginPair.Record(pair, true)
		} else {
			g.loginPair.Reset(pair)
		}
	}, nil
}
