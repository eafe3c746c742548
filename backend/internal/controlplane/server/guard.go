package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/clarateach/backend/internal/apierror"
	"github.com/clarateach/backend/internal/controlplane/ratelimit"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// Guessing limits. None of them ever refuses or delays a right answer: a
// valid code is always looked up and served first, and a right password is
// checked at once unless its address has been failing on that account.
// They slow down whoever keeps failing. The counts live in the store
// (store.Failures), so every replica shares them and N replicas allow what
// one does; docs/ARCHITECTURE.md ("Guessing") has the arithmetic.
var (
	// Wrong workshop or access codes per client address (IPv4, IPv6 /64).
	codeAddr = ratelimit.Budget{Free: 10, Every: 8 * time.Second, Queue: 8}
	// Wrong workshop or access codes over the whole service: beyond 600 in
	// a burst, 10 a second (600 a minute) whatever the number of
	// addresses; 80 may wait (8 s), more are answered 429.
	codeAll = ratelimit.Budget{Free: 600, Every: 100 * time.Millisecond, Queue: 80}
	// Registrations refused for their email in one workshop (already
	// registered, revoked): probing a workshop's learners.
	regWorkshop = ratelimit.Budget{Free: 30, Every: 6 * time.Second, Queue: 8}
	// Failed passwords per (account, address): 3 or more recent failures
	// make the address "failing" on the account, so its attempts take the
	// account's places. It never delays by itself.
	pwPair = ratelimit.Budget{Free: 3, Every: 20 * time.Minute}
	// Failed passwords per account, from any address: the failing
	// addresses' attempts, one per 8 s after 5.
	pwAcct = ratelimit.Budget{Free: 5, Every: 8 * time.Second, Queue: 16}
	// Failed passwords per address over all accounts (credential
	// stuffing): one per 8 s after 20.
	pwAddr = ratelimit.Budget{Free: 20, Every: 8 * time.Second, Queue: 8}
)

// errBusy: every place of a failure budget is taken.
var errBusy = errors.New("too many failed attempts are waiting")

type guards struct {
	log   *slog.Logger // the server's (set by New)
	st    store.Failures
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu sync.Mutex
	// full remembers, per key, until when its budget is certainly full, so
	// a flood of refused failures costs one write per key and Every, not
	// one per request (the stored clock would only stay at its limit).
	full      map[string]time.Time
	lastPrune time.Time
}

func newGuards(st store.Failures, now func() time.Time, sleep func(context.Context, time.Duration) error) *guards {
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return &guards{st: st, now: now, sleep: sleep, full: map[string]time.Time{}}
}

// guessKey names a failure clock; long parts (emails) are hashed so the key
// fits an index entry.
func guessKey(kind, part string) string {
	if len(part) > 128 {
		sum := sha256.Sum256([]byte(part))
		part = "sha256:" + hex.EncodeToString(sum[:])
	}
	return kind + ":" + part
}

// fail records one failure of key on b. It returns how long the failure
// waits for its place, or errBusy when b is full for key.
func (g *guards) fail(ctx context.Context, key string, b ratelimit.Budget) (time.Duration, error) {
	now := g.now()
	g.mu.Lock()
	until, ok := g.full[key]
	if ok && now.After(until) {
		delete(g.full, key)
		ok = false
	}
	g.mu.Unlock()
	if ok {
		return 0, errBusy
	}
	// Recorded even when the client hangs up: a guesser that gives up on
	// its answer must still pay for its failure.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	clock, err := g.st.AddFailure(wctx, key, now, b.Every, b.Limit())
	if err != nil {
		return 0, err
	}
	g.prune(now)
	if b.Full(clock, now) {
		g.mu.Lock()
		if len(g.full) >= 10_000 {
			clear(g.full)
		}
		g.full[key] = b.FullUntil(clock)
		g.mu.Unlock()
		return 0, errBusy
	}
	return b.Wait(clock, now), nil
}

// reset forgets key's failures, in the store and in this replica's memory.
func (g *guards) reset(ctx context.Context, key string) error {
	g.mu.Lock()
	delete(g.full, key)
	g.mu.Unlock()
	return g.st.ResetFailures(ctx, key)
}

// failing reports whether key has used up b's free failures.
func (g *guards) failing(ctx context.Context, key string, b ratelimit.Budget) (bool, error) {
	clock, err := g.st.FailureClock(ctx, key)
	if err != nil {
		return false, err
	}
	return b.Failing(clock, g.now()), nil
}

// prune deletes the failure clocks that hold nothing any more, at most
// every 10 minutes per replica, in the background.
func (g *guards) prune(now time.Time) {
	g.mu.Lock()
	due := now.Sub(g.lastPrune) >= 10*time.Minute
	if due {
		g.lastPrune = now
	}
	g.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := g.st.PruneFailures(ctx, now); err != nil {
			g.log.Warn("pruning failure clocks", "err", err)
		}
	}()
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

// tooMany is the answer to a request whose failure could not be placed.
func tooMany(w http.ResponseWriter, r *http.Request, err error) error {
	switch {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "8")
		return apierror.TooManyRequests("too many failed attempts are waiting; try again in a few seconds")
	case r.Context().Err() != nil:
		// The client went away while it waited.
		return apierror.New(499, "canceled", "request canceled")
	default:
		return err
	}
}

// failed records a failure on each (key, budget) in turn and waits for the
// latest place. It returns the answer when r may not be answered as asked
// (a budget was full, the store failed, or the client went away); the
// failures recorded before stay recorded. A budget that is full stops the
// later ones from being charged: a flood from one address does not use up
// the service's budget.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, limit string, keys []string, budgets []ratelimit.Budget) error {
	var wait time.Duration
	for i, key := range keys {
		d, err := s.guard.fail(r.Context(), key, budgets[i])
		if err != nil {
			s.metrics.guess(limit, "refused")
			return tooMany(w, r, err)
		}
		wait = max(wait, d)
	}
	if wait > 0 {
		s.metrics.guess(limit, "delayed")
		if err := s.guard.sleep(r.Context(), wait); err != nil {
			return tooMany(w, r, err)
		}
	} else {
		s.metrics.guess(limit, "answered")
	}
	return nil
}

// wrongCode records a wrong workshop or access code from r's address, on
// the address's and the service's budgets, and waits for its place. A
// non-nil error is the answer instead of the wrong code's.
func (s *Server) wrongCode(w http.ResponseWriter, r *http.Request) error {
	return s.failed(w, r, "code",
		[]string{guessKey("code:addr", addrKey(s.clientIP(r))), "code:all"},
		[]ratelimit.Budget{codeAddr, codeAll})
}

// failedRegistration records a registration refused for its email (already
// registered, revoked) on the workshop's budget: a classroom re-registering
// by mistake stays within it, an email prober is slowed.
func (s *Server) failedRegistration(w http.ResponseWriter, r *http.Request, workshopID string) error {
	return s.failed(w, r, "register", []string{guessKey("reg:ws", workshopID)}, []ratelimit.Budget{regWorkshop})
}

// loginTurn waits until a password attempt on email from r's address may be
// checked, and returns the function that records its outcome. Attempts from
// an address that has not been failing (on the account, and overall) are
// never delayed, and read the store only.
func (s *Server) loginTurn(r *http.Request, email string) (func(failed bool), error) {
	ctx := r.Context()
	g := s.guard
	addr := guessKey("pw:addr", addrKey(s.clientIP(r)))
	acct := guessKey("pw:acct", email)
	pair := guessKey("pw:pair", email+" "+addrKey(s.clientIP(r)))
	addrFailing, err := g.failing(ctx, addr, pwAddr)
	if err != nil {
		return nil, err
	}
	pairClock, err := g.st.FailureClock(ctx, pair)
	if err != nil {
		return nil, err
	}
	pairFailing := pwPair.Failing(pairClock, g.now())
	// A failing address's attempt takes its place (counted as a failure
	// now; a right password then clears only the pair).
	var wait time.Duration
	if addrFailing {
		d, err := g.fail(ctx, addr, pwAddr)
		if err != nil {
			s.metrics.guess("password", "refused")
			return nil, err
		}
		wait = d
	}
	if pairFailing {
		d, err := g.fail(ctx, acct, pwAcct)
		if err != nil {
			s.metrics.guess("password", "refused")
			return nil, err
		}
		wait = max(wait, d)
	}
	if wait > 0 {
		s.metrics.guess("password", "delayed")
		if err := g.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	return func(failed bool) {
		// Recording must outlive a client that hangs up on its answer.
		ctx := context.WithoutCancel(ctx)
		var errs []error
		if failed {
			if !addrFailing {
				_, err := g.fail(ctx, addr, pwAddr)
				errs = append(errs, ignoreBusy(err))
			}
			if !pairFailing {
				_, err := g.fail(ctx, acct, pwAcct)
				errs = append(errs, ignoreBusy(err))
			}
			_, err := g.fail(ctx, pair, pwPair)
			errs = append(errs, ignoreBusy(err))
		} else if !pairClock.IsZero() {
			errs = append(errs, g.reset(ctx, pair))
		}
		if err := errors.Join(errs...); err != nil {
			g.log.Warn("recording a password attempt", "err", err)
		}
	}, nil
}

func ignoreBusy(err error) error {
	if errors.Is(err, errBusy) {
		return nil
	}
	return err
}
