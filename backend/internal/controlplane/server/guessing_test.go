package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/server"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// Two replicas on one store allow no more failures than one: the counts
// that bound guessing are in the store, not in each replica's memory.
func TestReplicasShareTheGuessingLimits(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, trustOneProxy)
			e.instructor("ada@example.com")
			replicas := []string{e.http.URL, e.replica()}
			// Wrong access codes from one address, alternating replicas:
			// one replica answers 10 at once (codeAddr.Free), so two
			// together must not answer more.
			fast := 0
			for i := 0; i < 30; i++ {
				before := e.sleptFor()
				r := e.callAt(replicas[i%2], "POST", "/api/join", "", map[string]string{"access_code": authtoken.Code(authtoken.AccessCodeLen)}, from("192.0.2.9")...)
				if r.Status != http.StatusNotFound && r.Status != http.StatusTooManyRequests {
					t.Fatalf("wrong code %d: %d %s", i, r.Status, r.Body)
				}
				if r.Status == http.StatusNotFound && e.sleptFor() == before {
					fast++
				}
			}
			if fast > 10 {
				t.Errorf("two replicas answered %d wrong codes from one address at once; one answers 10", fast)
			}
			// Wrong passwords from one address, alternating replicas: one
			// replica answers 5 at once (3 make the address failing on the
			// account, then the account's 5 free places), so two must not
			// answer more.
			fast = 0
			bad := map[string]string{"email": "ada@example.com", "password": "wrong password!"}
			for i := 0; i < 20; i++ {
				before := e.sleptFor()
				r := e.callAt(replicas[i%2], "POST", "/api/auth/login", "", bad, from("192.0.2.10")...)
				if r.Status != http.StatusUnauthorized && r.Status != http.StatusTooManyRequests {
					t.Fatalf("wrong password %d: %d %s", i, r.Status, r.Body)
				}
				if r.Status == http.StatusUnauthorized && e.sleptFor() == before {
					fast++
				}
			}
			if fast > 5 {
				t.Errorf("two replicas answered %d wrong passwords from one address at once; one answers 5", fast)
			}
			// The owner, from their own address, on either replica, at once.
			good := map[string]string{"email": "ada@example.com", "password": "correct horse battery"}
			for _, base := range replicas {
				before := e.sleptFor()
				if r := e.callAt(base, "POST", "/api/auth/login", "", good, from("198.51.100.1")...); r.Status != http.StatusOK || e.sleptFor() != before {
					t.Fatalf("owner on %s: %d, waited %v", base, r.Status, e.sleptFor()-before)
				}
			}
		})
	}
}

// A flood of wrong codes from many addresses, one each (no address ever
// reaches its own limit), meets the service's budget: past 600 at once the
// wrong codes wait for their place. Valid codes, from the same addresses,
// are served at once throughout.
func TestAFloodFromManyAddressesMeetsTheServiceBudget(t *testing.T) {
	t.Parallel()
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, engine, trustOneProxy)
			inst := e.instructor("t@example.com")
			id, wcode := e.workshop(inst, 5)
			e.start(inst, id)
			valid := e.call("POST", "/api/register", "", map[string]string{"workshop_code": wcode, "name": "L", "email": "l@example.com"}).json(t)["access_code"].(string)
			replicas := []string{e.http.URL, e.replica()}
			const n = 1000
			fast, slowed := 0, 0
			for i := 0; i < n; i++ {
				addr := fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)
				base := replicas[i%2]
				before := e.sleptFor()
				var r resp
				if i%10 == 0 {
					r = e.callAt(base, "POST", "/api/register", "", map[string]string{"workshop_code": authtoken.Code(authtoken.WorkshopCodeLen), "name": "G", "email": "g@example.com"}, from(addr)...)
				} else {
					r = e.callAt(base, "POST", "/api/join", "", map[string]string{"access_code": authtoken.Code(authtoken.AccessCodeLen)}, from(addr)...)
				}
				switch {
				case r.Status == http.StatusNotFound && e.sleptFor() == before:
					fast++
				case r.Status == http.StatusNotFound || r.Status == http.StatusTooManyRequests:
					slowed++
				default:
					t.Fatalf("wrong code %d: %d %s", i, r.Status, r.Body)
				}
				if i%100 == 99 {
					before := e.sleptFor()
					if r := e.callAt(base, "POST", "/api/join", "", map[string]string{"access_code": valid}, from(addr)...); r.Status != http.StatusOK {
						t.Fatalf("valid code during the flood (after %d wrong): %d %s", i+1, r.Status, r.Body)
					}
					if e.sleptFor() != before {
						t.Fatalf("a valid code waited %v behind the flood", e.sleptFor()-before)
					}
				}
			}
			if fast > 600 {
				t.Errorf("%d of %d wrong codes from %d addresses were answered at once; the service's budget is 600", fast, n, n)
			}
			if slowed < n-600 {
				t.Errorf("only %d wrong codes were slowed", slowed)
			}
			// A registration with the right workshop code is not slowed either.
			before := e.sleptFor()
			if r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": wcode, "name": "M", "email": "m@example.com"}, from("198.18.0.1")...); r.Status != http.StatusCreated || e.sleptFor() != before {
				t.Fatalf("registration during the flood: %d, waited %v", r.Status, e.sleptFor()-before)
			}
		})
	}
}

// Probing which emails are registered in a workshop (409
// already_registered) is slowed per workshop, from any number of addresses
// and replicas; a new learner with the right workshop code is not.
func TestEmailProbingIsSlowedPerWorkshop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", trustOneProxy)
	inst := e.instructor("t@example.com")
	_, wcode := e.workshop(inst, 30)
	reg := map[string]string{"workshop_code": wcode, "name": "L", "email": "l@example.com"}
	if r := e.call("POST", "/api/register", "", reg); r.Status != http.StatusCreated {
		t.Fatalf("register: %d", r.Status)
	}
	replicas := []string{e.http.URL, e.replica()}
	fast := 0
	for i := 0; i < 60; i++ {
		before := e.sleptFor()
		r := e.callAt(replicas[i%2], "POST", "/api/register", "", reg, from(fmt.Sprintf("203.0.113.%d", i+1))...)
		if r.Status != http.StatusConflict && r.Status != http.StatusTooManyRequests {
			t.Fatalf("probe %d: %d %s", i, r.Status, r.Body)
		}
		if r.Status == http.StatusConflict && e.sleptFor() == before {
			fast++
		}
	}
	if fast > 30 {
		t.Errorf("%d of 60 probes of one workshop were answered at once; its budget is 30", fast)
	}
	before := e.sleptFor()
	if r := e.call("POST", "/api/register", "", map[string]string{"workshop_code": wcode, "name": "N", "email": "n@example.com"}, from("203.0.113.1")...); r.Status != http.StatusCreated || e.sleptFor() != before {
		t.Fatalf("a new learner during the probing: %d, waited %v", r.Status, e.sleptFor()-before)
	}
}

// BenchmarkWrongCodes measures how many wrong access codes one replica
// answers a second when the client does not wait for the tarpit (the tarpit
// sleep is the test's, which returns at once): the rate behind the
// guessing arithmetic in docs/ARCHITECTURE.md. ENGINE=postgres for
// PostgreSQL.
func BenchmarkWrongCodes(b *testing.B) {
	engine := "sqlite"
	if os.Getenv("ENGINE") == "postgres" {
		engine = "postgres"
	}
	e := newEnv(b, engine, trustOneProxy)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		addr := fmt.Sprintf("198.18.%d.%d", n.Add(1)/250, n.Load()%250+1)
		body := `{"access_code":"` + authtoken.Code(authtoken.AccessCodeLen) + `"}`
		for pb.Next() {
			req, _ := http.NewRequest("POST", e.http.URL+"/api/join", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", addr)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
}

// slowFailures delays every failure write, so a client can hang up while
// its failure is being recorded; entered is closed when the first begins.
type slowFailures struct {
	store.Store
	entered chan struct{}
	once    *sync.Once
}

func (s slowFailures) AddFailure(ctx context.Context, key string, now time.Time, cost, limit time.Duration) (time.Time, error) {
	s.once.Do(func() { close(s.entered) })
	time.Sleep(300 * time.Millisecond)
	return s.Store.AddFailure(ctx, key, now, cost, limit)
}

// A guesser that hangs up before its wrong code is answered still pays for
// it: the failure is recorded whatever happens to the request.
func TestAWrongCodeCountsWhenTheClientHangsUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite", trustOneProxy)
	slow := slowFailures{Store: e.st, entered: make(chan struct{}), once: new(sync.Once)}
	srv := httptest.NewServer(server.New(server.Deps{Config: e.cfg, Store: slow, Now: e.clock, Sleep: e.sleep}).Handler())
	defer srv.Close()
	// The client hangs up once its failure is being recorded (a fixed 50 ms
	// could pass, on a loaded machine, before the server read the request).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		select {
		case <-slow.entered:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/api/join", strings.NewReader(`{"access_code":"`+authtoken.Code(authtoken.AccessCodeLen)+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "192.0.2.77")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("the request was answered (%d) before the client hung up", res.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := e.st.FailureClock(context.Background(), "code:addr:192.0.2.77")
		if err != nil {
			t.Fatal(err)
		}
		if !c.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the wrong code of a client that hung up was never counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
