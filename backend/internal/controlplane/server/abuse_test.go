package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
)

func trustOneProxy(c *config_) { c.TrustProxyHops = 1 }

// from makes a request look as if it came from addr (behind one trusted
// proxy).
func from(addr string) []string { return []string{"X-Forwarded-For", addr} }

// One classmate (or an attacker) behind the classroom's NAT address sends a
// flood of wrong codes; everyone else behind that address keeps registering,
// joining and refreshing their token, at once, while the flood is slowed.
func TestWrongCodesNeverLockOutAClassroom(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", trustOneProxy)
	inst := e.instructor("t@example.com")
	id, wcode := e.workshop(inst, 30)
	e.start(inst, id)
	const nat = "203.0.113.7"
	var codes []string
	for i := 0; i < 25; i++ { // a whole class behind one address
		r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": wcode, "name": "L", "email": fmt.Sprintf("l%d@example.com", i)}, from(nat)...)
		if r.Status != http.StatusCreated {
			t.Fatalf("learner %d: %d %s", i, r.Status, r.Body)
		}
		codes = append(codes, r.json(t)["access_code"].(string))
	}
	var wg sync.WaitGroup
	flood := func(n int) {
		defer wg.Done()
		for i := 0; i < n; i++ {
			if i%5 == 0 {
				e.call("POST", "/api/register", "", map[string]string{"workshop_code": "AAAAAA", "name": "G", "email": "g@example.com"}, from(nat)...)
			} else {
				e.call("POST", "/api/join", "", map[string]string{"access_code": authtoken.Code(authtoken.AccessCodeLen)}, from(nat)...)
			}
		}
	}
	defer wg.Wait()
	wg.Add(4)
	for i := 0; i < 4; i++ {
		go flood(50)
	}
	// While the flood runs (and after it), every valid code is served.
	for round := 0; round < 3; round++ {
		for i, c := range codes {
			r := e.call("POST", "/api/join", "", map[string]string{"access_code": c}, from(nat)...)
			if r.Status != http.StatusOK || r.json(t)["token"] == nil {
				t.Fatalf("round %d: learner %d's join (token refresh) during the flood: %d %s", round, i, r.Status, r.Body)
			}
		}
		r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": wcode, "name": "Late", "email": fmt.Sprintf("late%d@example.com", round)}, from(nat)...)
		if r.Status != http.StatusCreated {
			t.Fatalf("round %d: a late learner's registration during the flood: %d %s", round, r.Status, r.Body)
		}
		if round == 0 {
			wg.Wait()
		}
	}
	// Valid codes are never delayed by the flood.
	before := e.sleptFor()
	if r := e.call("POST", "/api/join", "", map[string]string{"access_code": codes[0]}, from(nat)...); r.Status != http.StatusOK {
		t.Fatalf("join after the flood: %d", r.Status)
	}
	if e.sleptFor() != before {
		t.Fatalf("a valid join waited %v behind the flood", e.sleptFor()-before)
	}
	// The flood itself was slowed: 200 wrong codes (10 free) must have
	// cost at least 20 minutes of waiting (8 s apart once past the start).
	if e.sleptFor() < 20*time.Minute {
		t.Fatalf("200 wrong codes from one address waited only %v in total", e.sleptFor())
	}
	// A wrong code from another address is not slowed by this one's.
	before = e.sleptFor()
	if r := e.call("POST", "/api/join", "", map[string]string{"access_code": "ACDEACDEACDEACDE"}, from("198.51.100.9")...); r.Status != http.StatusNotFound {
		t.Fatalf("wrong code from another address: %d", r.Status)
	}
	if e.sleptFor() != before {
		t.Fatal("a fresh address was slowed by another address's failures")
	}
}

// Guesses from one IPv6 subscriber prefix count together.
func TestWrongCodesCountPerIPv6Prefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", trustOneProxy)
	for i := 0; i < 30; i++ {
		e.call("POST", "/api/join", "", map[string]string{"access_code": "ACDEACDEACDEACDE"}, from(fmt.Sprintf("2001:db8:1:2::%x", i+1))...)
	}
	if e.sleptFor() == 0 {
		t.Fatal("30 wrong codes from one /64, one address each, were never slowed")
	}
}

// Wrong passwords from other addresses never lock the owner out; guessing
// is slowed per account and per address instead.
func TestPasswordGuessingNeverLocksOutTheOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", trustOneProxy)
	e.instructor("ada@example.com")
	bad := map[string]string{"email": "ada@example.com", "password": "wrong password!"}
	good := map[string]string{"email": "ada@example.com", "password": "correct horse battery"}
	for a := 1; a <= 5; a++ {
		for i := 0; i < 8; i++ {
			if r := e.call("POST", "/api/auth/login", "", bad, from(fmt.Sprintf("192.0.2.%d", a))...); r.Status != http.StatusUnauthorized {
				t.Fatalf("address %d attempt %d: %d %s", a, i, r.Status, r.Body)
			}
		}
	}
	guessing := e.sleptFor()
	// 40 failures on the account: the guessers were slowed (past 3 free
	// failures per address and 5 per account, up to 8 s apart) ...
	if guessing < 2*time.Minute {
		t.Fatalf("40 wrong passwords were slowed by only %v", guessing)
	}
	// ... and the owner, from their own address, signs in at once.
	if r := e.call("POST", "/api/auth/login", "", good, from("198.51.100.1")...); r.Status != http.StatusOK {
		t.Fatalf("owner after 40 failures from 5 other addresses: %d %s", r.Status, r.Body)
	}
	if e.sleptFor() != guessing {
		t.Fatalf("the owner waited %v", e.sleptFor()-guessing)
	}
	// Even from a guessing address, the right password is slowed, not refused.
	if r := e.call("POST", "/api/auth/login", "", good, from("192.0.2.1")...); r.Status != http.StatusOK {
		t.Fatalf("right password from a failing address: %d %s", r.Status, r.Body)
	}
}

func TestInvisibleNamesNULPasswordsAndDuplicateKeysAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inst := e.instructor("ada@example.com")
	_, wcode := e.workshop(inst, 10)
	names := []string{
		"Ada\u202Egnp.exe", // right-to-left override
		"Ada\u2066x\u2069", // isolates
		"A\u200Bda",        // zero-width space
		"\u200D",           // zero-width joiner alone
		"Ada\uFEFF",        // BOM
		"Ada\u2028Lovelace",
		"\u3164",        // Hangul filler
		"Ada\u00AD",     // soft hyphen
		"Ada\U000F0000", // private use
		"Ada\u0085L",    // C1 control (NEL)
	}
	for _, n := range names {
		if r := e.call("POST", "/api/auth/register", "", map[string]string{"email": "n@example.com", "password": "long enough pw", "name": n}); r.Status != http.StatusBadRequest {
			t.Errorf("instructor name %q: %d", n, r.Status)
		}
		if r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": wcode, "name": n, "email": "l@example.com"}); r.Status != http.StatusBadRequest {
			t.Errorf("learner name %q: %d", n, r.Status)
		}
		if r := e.call("POST", "/api/workshops", inst, map[string]any{"name": n, "seats": 1}); r.Status != http.StatusBadRequest {
			t.Errorf("workshop name %q: %d", n, r.Status)
		}
	}
	for i, n := range []string{"Ada Lovelace", "Zoë Ñúñez", "李小龍", "محمد", "Ada 🙂"} {
		if r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": wcode, "name": n, "email": fmt.Sprintf("ok%d@example.com", i)}); r.Status != http.StatusCreated {
			t.Errorf("learner name %q: %d %s", n, r.Status, r.Body)
		}
	}
	if r := e.call("POST", "/api/auth/register", "", map[string]string{"email": "nul@example.com", "password": "long enough\x00pw", "name": "N"}); r.Status != http.StatusBadRequest {
		t.Errorf("password with NUL at sign-up: %d", r.Status)
	}
	if r := e.call("POST", "/api/auth/login", "", map[string]string{"email": "ada@example.com", "password": "correct horse battery\x00"}); r.Status != http.StatusBadRequest {
		t.Errorf("password with NUL at login: %d", r.Status)
	}
	for _, body := range []string{
		`{"workshop_code":"` + wcode + `","name":"x","name":"y","email":"d@example.com"}`,
		`{"workshop_code":"` + wcode + `","name":"x","Name":"y","email":"d@example.com"}`,
	} {
		r := e.call("POST", "/api/register", "", body)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "duplicate key") {
			t.Errorf("%s: %d %s", body, r.Status, r.Body)
		}
	}
}

// Access codes are 16 letters. Old 10-letter ones are too short to bound
// guessing, so they are refused without a look-up (410 code_expired, the
// same for a real old code and an invented one), the class view marks their
// learners, and a reissued code gets the learner back to the same seat and
// saved work.
func TestAccessCodesAreLongAndOldOnesMustBeReissued(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inst := e.instructor("t@example.com")
	id, wcode := e.workshop(inst, 5)
	e.start(inst, id)
	r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": wcode, "name": "New", "email": "new@example.com"})
	if c, _ := r.json(t)["access_code"].(string); len(c) != 16 {
		t.Fatalf("new access code %q: want 16 characters", c)
	}
	old := &store.Registration{WorkshopID: id, Name: "Old", Email: "old@example.com", AccessCode: "ACDEFGHJKM"}
	old, _, err := e.st.Register(context.Background(), old)
	if err != nil {
		t.Fatal(err)
	}
	seat, err := e.st.AssignSeat(context.Background(), old.ID)
	if err != nil {
		t.Fatal(err)
	}
	saveWork(t, e, old.ID, seat.Seat, "old learner's work", e.clock().Add(-time.Minute), false)
	for _, code := range []string{"acde-fghjkm", "ACDEACDEAC"} { // real, invented: one answer
		before := e.sleptFor()
		r := e.call("POST", "/api/join", "", map[string]string{"access_code": code})
		if r.Status != http.StatusGone || r.errCode(t) != "code_expired" || e.sleptFor() != before {
			t.Fatalf("old-length code %s: %d %s (waited %v)", code, r.Status, r.Body, e.sleptFor()-before)
		}
		if f := e.form("/api/download", code); f.Status != http.StatusGone {
			t.Fatalf("download with old-length code %s: %d", code, f.Status)
		}
	}
	regs := e.call("GET", "/api/workshops/"+id+"/registrations", inst, nil).json(t)["registrations"].([]any)
	marked := map[string]bool{}
	for _, g := range regs {
		m := g.(map[string]any)
		marked[m["email"].(string)] = m["old_code"] == true
	}
	if !marked["old@example.com"] || marked["new@example.com"] {
		t.Fatalf("old_code marks: %v", marked)
	}
	re := e.call("POST", "/api/workshops/"+id+"/registrations/"+old.ID+"/reissue", inst, nil)
	code, _ := re.json(t)["access_code"].(string)
	if re.Status != http.StatusOK || len(code) != 16 {
		t.Fatalf("reissue: %d %s", re.Status, re.Body)
	}
	j := e.call("POST", "/api/join", "", map[string]string{"access_code": code})
	if j.Status != http.StatusOK || int(j.json(t)["seat"].(float64)) != seat.Seat {
		t.Fatalf("join with the reissued code: %d %s (seat was %d)", j.Status, j.Body, seat.Seat)
	}
	if f := e.form("/api/download", code); f.Status != http.StatusOK || string(f.Body) != "old learner's work" {
		t.Fatalf("download with the reissued code: %d %q", f.Status, f.Body)
	}
}

// While a guessing address's wrong answers are held in the tarpit (here:
// forever), its extra wrong codes are answered 429 at once and a valid code
// from the same address is still served at once.
func TestHeldWrongCodesNeverBlockAValidOne(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	inst := e.instructor("t@example.com")
	_, wcode := e.workshop(inst, 5)
	valid := e.call("POST", "/api/register", "", map[string]string{"workshop_code": wcode, "name": "L", "email": "l@example.com"}).json(t)["access_code"].(string)
	hold := func(ctx context.Context, d time.Duration) error { <-ctx.Done(); return ctx.Err() }
	srv := httptest.NewServer(server.New(server.Deps{Config: e.cfg, Store: e.st, Now: e.clock, Sleep: hold}).Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	join := func(ctx context.Context, code string) int {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/api/join", strings.NewReader(`{"access_code":"`+code+`"}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := 0; i < 10; i++ { // 10 free failures; the next ones wait for their place
		if c := join(ctx, "ACDEACDEACDEACDE"); c != http.StatusNotFound {
			t.Fatalf("wrong code %d: %d", i, c)
		}
	}
	// 8 wrong codes now wait (held); the 9th is answered 429 at once.
	held := make(chan int, 8)
	for i := 0; i < 8; i++ {
		go func() {
			for { // a poll below may hold the place this one wanted: try again
				if c := join(ctx, "ACDEACDEACDEACDE"); c != http.StatusTooManyRequests || ctx.Err() != nil {
					held <- c
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	poll := func() int { // a poll that gets queued gives up after a moment
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		return join(pctx, "ACDEACDEACDEACDE")
	}
	for poll() != http.StatusTooManyRequests {
		if time.Now().After(deadline) {
			t.Fatal("a wrong code beyond 8 held ones was never answered 429")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := join(context.Background(), valid); c != http.StatusOK {
		t.Fatalf("valid code while wrong ones are held: %d", c)
	}
	cancel()
	for i := 0; i < 8; i++ {
		<-held
	}
}
