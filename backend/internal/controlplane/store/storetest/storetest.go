// Package storetest is the conformance suite every store.Store engine runs
// (Run), plus helpers for other packages' tests: PostgresURL (a fresh
// PostgreSQL database), PostgresSchemaURL (a fresh schema, cheaper),
// NewPostgres (a migrated store on such a schema; with Main in TestMain, on
// an ended test's schema emptied, cheaper still) and JoinStorm (concurrent
// register+join with latency figures).
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... a fresh, migrated store ... })
//	}
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

// Run runs the conformance suite. newStore must return a fresh, empty,
// migrated store for each call (each subtest calls it once, possibly in
// parallel) and arrange for its cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"AuthSessions", testAuthSessions},
		{"Workshops", testWorkshops},
		{"WorkshopCodes", testWorkshopCodes},
		{"UpdateWorkshop", testUpdateWorkshop},
		{"UpdateWorkshopConcurrent", testUpdateWorkshopConcurrent},
		{"ListWorkshopsFilters", testListWorkshopsFilters},
		{"Register", testRegister},
		{"RegisterFull", testRegisterFull},
		{"RegisterEvents", testRegisterEvents},
		{"GetLearner", testGetLearner},
		{"JoinSeat", testJoinSeat},
		{"RegisterByCode", testRegisterByCode},
		{"JoinByCode", testJoinByCode},
		{"JoinByCodeTabs", testJoinByCodeTabs},
		{"Seats", testSeats},
		{"SeatsRevoke", testSeatsRevoke},
		{"SeatsShrunk", testSeatsShrunk},
		{"SeatsResized", testSeatsResized},
		{"JoinsWhileResized", testJoinsWhileResized},
		{"TokenGenerations", testTokenGenerations},
		{"ReissueAccessCode", testReissueAccessCode},
		{"PendingRevokes", testPendingRevokes},
		{"Events", testEvents},
		{"Leases", testLeases},
		{"LeaseExpiry", testLeaseExpiry},
		{"WorkshopVMs", testWorkshopVMs},
		{"WorkshopHosts", testWorkshopHosts},
		{"WatchHosts", testWatchHosts},
		{"PlacementStorm", PlacementStorm},
		{"Transition", testTransition},
		{"PurgeWorkshop", testPurgeWorkshop},
		{"Archives", testArchives},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"ConcurrentJoins", ConcurrentJoins},
		{"Quotas", testQuotas},
		{"OwnerUsage", testOwnerUsage},
		{"QuotaRace", QuotaRace},
		{"Invites", testInvites},
		{"Members", testMembers},
		{"Labs", testLabs},
		{"Progress", testProgress},
		{"Hands", testHands},
		{"Broadcasts", testBroadcasts},
		{"Watchers", testWatchers},
		{"LabSetups", testLabSetups},
		{"Pushes", testPushes},
		{"Failures", testFailures},
		{"TouchSeats", testTouchSeats},
		{"WatchClass", testWatchClass},
		{"PreviewShares", testPreviewShares},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			tc.fn(t, s)
		})
	}
}

// ---- helpers ---------------------------------------------------------------

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("%s:\n got %s\nwant %s\n(%#v\n vs %#v)", what, g, w, got, want)
	}
}

// odd is a time with nanoseconds and a non-UTC zone: stores must return it in
// UTC truncated to microseconds.
func odd(d time.Duration) time.Time {
	loc := time.FixedZone("X", 5*3600+30*60)
	return time.Date(2031, 3, 4, 5, 6, 7, 123456789, loc).Add(d)
}

func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ptr[T any](v T) *T { return &v }

func mkUser(t *testing.T, s store.Store, email string) *store.User {
	t.Helper()
	u := &store.User{Email: email, Name: "U " + email, PasswordHash: "hash", Role: store.RoleInstructor}
	must(t, s.CreateUser(ctxT(t), u))
	return u
}

func mkWorkshop(t *testing.T, s store.Store, owner string, seats int) *store.Workshop {
	t.Helper()
	w := &store.Workshop{OwnerID: owner, Name: "WS " + randomSuffix(), Seats: seats}
	must(t, s.CreateWorkshop(ctxT(t), w))
	return w
}

func register(t *testing.T, s store.Store, wsID, email string) *store.Registration {
	t.Helper()
	r, created, err := s.Register(ctxT(t), &store.Registration{WorkshopID: wsID, Name: "L " + email, Email: email})
	must(t, err)
	if !created {
		t.Fatalf("register %s: created = false for a new email", email)
	}
	return r
}

// ---- users and auth sessions -------------------------------------------------

func testUsers(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	n, err := s.CountUsers(ctx)
	must(t, err)
	equal(t, "count on empty store", n, 0)

	u := &store.User{Email: "Ada@Example.COM ", Name: "Ada", PasswordHash: "h1"}
	must(t, s.CreateUser(ctx, u))
	if u.ID == "" || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser did not fill ID/CreatedAt: %+v", u)
	}
	if u.Role != store.RoleInstructor {
		t.Fatalf("default role = %q", u.Role)
	}
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	equal(t, "GetUser", got, u)
	if got.Email != "ada@example.com" {
		t.Errorf("email stored as %q, want trimmed lower case", got.Email)
	}
	for _, e := range []string{"ada@example.com", "ADA@EXAMPLE.COM", " Ada@Example.com"} {
		got, err := s.GetUserByEmail(ctx, e)
		must(t, err)
		equal(t, "GetUserByEmail "+e, got, u)
	}

	dups := []struct{ name, email string }{
		{"same", "ada@example.com"},
		{"upper", "ADA@EXAMPLE.COM"},
		{"mixed", "aDa@eXample.com"},
	}
	for _, d := range dups {
		err := s.CreateUser(ctx, &store.User{Email: d.email, PasswordHash: "x"})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate email %s (%s): error = %v, want ErrConflict", d.name, d.email, err)
		}
	}

	admin := &store.User{Email: "root@example.com", PasswordHash: "h2", Role: store.RoleAdmin}
	must(t, s.CreateUser(ctx, admin))
	got, err = s.GetUser(ctx, admin.ID)
	must(t, err)
	equal(t, "admin role", got.Role, store.RoleAdmin)

	n, err = s.CountUsers(ctx)
	must(t, err)
	equal(t, "count", n, 2)

	_, err = s.GetUser(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetUserByEmail(ctx, "nobody@example.com")
	wantErr(t, err, store.ErrNotFound)
}

func testAuthSessions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "a@example.com")
	a := &store.AuthSession{UserID: u.ID, ExpiresAt: odd(24 * time.Hour)}
	must(t, s.CreateAuthSession(ctx, a))
	if len(a.ID) < 32 {
		t.Fatalf("generated session id %q is too short to be a secret", a.ID)
	}
	got, err := s.GetAuthSession(ctx, a.ID)
	must(t, err)
	equal(t, "GetAuthSession", got, a)
	equal(t, "expires_at", got.ExpiresAt, micro(odd(24*time.Hour)))

	must(t, s.DeleteAuthSession(ctx, a.ID))
	_, err = s.GetAuthSession(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.DeleteAuthSession(ctx, a.ID)) // idempotent

	err = s.CreateAuthSession(ctx, &store.AuthSession{UserID: "missing-user", ExpiresAt: time.Now().Add(time.Hour)})
	if err == nil {
		t.Fatal("auth session for a missing user was accepted")
	}
}

// ---- workshops ---------------------------------------------------------------

func testWorkshops(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := &store.Workshop{
		OwnerID: u.ID, Name: "Intro to Go", Seats: 12,
		StartsAt: ptr(odd(0)), EndsAt: ptr(odd(2 * time.Hour)), LabGuide: "# Lab\n\nStep 1",
		DiskMB: 3072, EgressAllow: "10.1.2.3/32:5432 172.16.0.0/24",
		Environment: "ghcr.io/org/course:2026", EnvironmentAuth: "sealed-secret", LearnerRoot: true,
	}
	must(t, s.CreateWorkshop(ctx, w))
	if w.ID == "" || w.Code == "" || w.CreatedAt.IsZero() || w.UpdatedAt.IsZero() {
		t.Fatalf("CreateWorkshop did not fill ID/Code/CreatedAt/UpdatedAt: %+v", w)
	}
	equal(t, "default status", w.Status, store.StatusCreated)
	equal(t, "default desired state", w.DesiredState, store.DesiredStopped)

	got, err := s.GetWorkshop(ctx, w.ID)
	must(t, err)
	equal(t, "GetWorkshop", got, w)
	equal(t, "starts_at", *got.StartsAt, micro(odd(0)))
	equal(t, "disk_mb", got.DiskMB, 3072)
	equal(t, "environment", got.Environment, "ghcr.io/org/course:2026")
	equal(t, "environment_auth", got.EnvironmentAuth, "sealed-secret")
	equal(t, "learner_root", got.LearnerRoot, true)
	equal(t, "egress_allow", got.EgressAllow, "10.1.2.3/32:5432 172.16.0.0/24")
	got, err = s.GetWorkshopByCode(ctx, w.Code)
	must(t, err)
	equal(t, "GetWorkshopByCode", got, w)

	_, err = s.GetWorkshop(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetWorkshopByCode(ctx, "NOPE42")
	wantErr(t, err, store.ErrNotFound)

	err = s.CreateWorkshop(ctx, &store.Workshop{OwnerID: "missing-user", Name: "x", Seats: 1})
	if err == nil {
		t.Fatal("workshop with a missing owner was accepted")
	}
}

func testWorkshopCodes(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := &store.Workshop{OwnerID: u.ID, Name: "a", Seats: 1, Code: "ACDEF3"}
	must(t, s.CreateWorkshop(ctx, w))
	err := s.CreateWorkshop(ctx, &store.Workshop{OwnerID: u.ID, Name: "b", Seats: 1, Code: "ACDEF3"})
	wantErr(t, err, store.ErrConflict)

	seen := map[string]bool{w.Code: true}
	for i := 0; i < 20; i++ {
		x := mkWorkshop(t, s, u.ID, 1)
		if seen[x.Code] {
			t.Fatalf("code %s generated twice", x.Code)
		}
		seen[x.Code] = true
	}
}

func testUpdateWorkshop(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 5)

	next := odd(time.Minute)
	got, err := s.UpdateWorkshop(ctx, w.ID, func(x *store.Workshop) error {
		x.DesiredState = store.DesiredRunning
		x.Status = store.StatusProvisioning
		x.StatusReason = "creating VM"
		x.Step = "create_vm"
		x.Provisioner = "local"
		x.AgentURL = "http://127.0.0.1:9090"
		x.AgentToken = "secret"
		x.Attempts = 2
		x.NextAttemptAt = &next
		x.Seats = 7
		x.DiskMB = 512
		x.Environment = "python:3.12-slim"
		x.LearnerRoot = true
		x.AgentCert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
		return nil
	})
	must(t, err)
	if !got.UpdatedAt.After(w.UpdatedAt) && !got.UpdatedAt.Equal(w.UpdatedAt) {
		t.Errorf("UpdatedAt went back: %v -> %v", w.UpdatedAt, got.UpdatedAt)
	}
	reread, err := s.GetWorkshop(ctx, w.ID)
	must(t, err)
	equal(t, "returned vs re-read", got, reread)
	want := *w
	want.DesiredState, want.Status, want.StatusReason, want.Step = store.DesiredRunning, store.StatusProvisioning, "creating VM", "create_vm"
	want.Provisioner, want.AgentURL, want.AgentToken, want.Attempts = "local", "http://127.0.0.1:9090", "secret", 2
	want.NextAttemptAt, want.Seats, want.UpdatedAt = ptr(micro(next)), 7, reread.UpdatedAt
	want.DiskMB = 512
	want.Environment, want.LearnerRoot = "python:3.12-slim", true
	want.AgentCert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	equal(t, "updated workshop", reread, &want)

	// Clearing optional times.
	got, err = s.UpdateWorkshop(ctx, w.ID, func(x *store.Workshop) error { x.NextAttemptAt = nil; return nil })
	must(t, err)
	if got.NextAttemptAt != nil {
		t.Fatal("NextAttemptAt not cleared")
	}

	// fn's error aborts and comes back as is.
	sentinel := errors.New("no thanks")
	_, err = s.UpdateWorkshop(ctx, w.ID, func(x *store.Workshop) error { x.Name = "changed"; return sentinel })
	if err != sentinel {
		t.Fatalf("error = %v, want fn's error as is", err)
	}
	reread, err = s.GetWorkshop(ctx, w.ID)
	must(t, err)
	if reread.Name == "changed" {
		t.Fatal("aborted update was written")
	}

	_, err = s.UpdateWorkshop(ctx, "nope", func(*store.Workshop) error { return nil })
	wantErr(t, err, store.ErrNotFound)
}

func testUpdateWorkshopConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 5)
	const n = 25
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateWorkshop(ctx, w.ID, func(x *store.Workshop) error { x.Attempts++; return nil })
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, err := s.GetWorkshop(ctx, w.ID)
	must(t, err)
	equal(t, "attempts after concurrent increments (lost update?)", got.Attempts, n)
}

func testListWorkshopsFilters(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mkUser(t, s, "a@example.com")
	b := mkUser(t, s, "b@example.com")

	// name -> (owner, status, desired, deleted_at set)
	type spec struct {
		owner     string
		status    store.Status
		desired   store.DesiredState
		deletedAt bool
	}
	specs := map[string]spec{
		"new":          {a.ID, store.StatusCreated, store.DesiredStopped, false},
		"starting":     {a.ID, store.StatusCreated, store.DesiredRunning, false},
		"provisioning": {a.ID, store.StatusProvisioning, store.DesiredRunning, false},
		"running":      {b.ID, store.StatusRunning, store.DesiredRunning, false},
		"stopping":     {b.ID, store.StatusRunning, store.DesiredStopped, false},
		"stopped":      {b.ID, store.StatusStopped, store.DesiredStopped, false},
		"failed":       {a.ID, store.StatusError, store.DesiredRunning, false},
		"deleting":     {a.ID, store.StatusRunning, store.DesiredDeleted, true},
		"deleted":      {b.ID, store.StatusDeleted, store.DesiredDeleted, true},
	}
	base := time.Now().Add(-time.Hour)
	names := make([]string, 0, len(specs))
	for name := range specs {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		sp := specs[name]
		w := &store.Workshop{OwnerID: sp.owner, Name: name, Seats: 3, Status: sp.status, DesiredState: sp.desired,
			CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		if sp.deletedAt {
			w.DeletedAt = ptr(time.Now())
		}
		must(t, s.CreateWorkshop(ctx, w))
	}

	list := func(f store.WorkshopFilter) []string {
		t.Helper()
		ws, err := s.ListWorkshops(ctx, f)
		must(t, err)
		out := make([]string, len(ws))
		for i, w := range ws {
			out[i] = w.Name
			if i > 0 && ws[i-1].CreatedAt.Before(w.CreatedAt) {
				t.Errorf("ListWorkshops not newest first: %s before %s", ws[i-1].Name, w.Name)
			}
		}
		sort.Strings(out)
		return out
	}
	cases := []struct {
		name string
		f    store.WorkshopFilter
		want []string
	}{
		{"all live", store.WorkshopFilter{}, []string{"failed", "new", "provisioning", "running", "starting", "stopped", "stopping"}},
		{"all incl deleted", store.WorkshopFilter{IncludeDeleted: true}, names},
		{"owner a", store.WorkshopFilter{OwnerID: a.ID}, []string{"failed", "new", "provisioning", "starting"}},
		{"owner b incl deleted", store.WorkshopFilter{OwnerID: b.ID, IncludeDeleted: true}, []string{"deleted", "running", "stopped", "stopping"}},
		{"unknown owner", store.WorkshopFilter{OwnerID: "nobody"}, []string{}},
		{"needs work", store.WorkshopFilter{NeedsWork: true}, []string{"deleting", "failed", "provisioning", "running", "starting", "stopping"}},
		{"needs work owner b", store.WorkshopFilter{NeedsWork: true, OwnerID: b.ID}, []string{"running", "stopping"}},
	}
	for _, c := range cases {
		equal(t, c.name, list(c.f), c.want)
	}
}

// ---- registrations and seats ---------------------------------------------------

func testRegister(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 3)

	r, created, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "Lin", Email: "Lin@Example.com"})
	must(t, err)
	if !created || r.ID == "" || len(r.AccessCode) < 8 || r.CreatedAt.IsZero() {
		t.Fatalf("first Register: created=%v reg=%+v", created, r)
	}
	equal(t, "stored email", r.Email, "lin@example.com")

	for _, email := range []string{"lin@example.com", "LIN@EXAMPLE.COM", " Lin@example.com "} {
		again, created, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: "Other name", Email: email})
		must(t, err)
		if created {
			t.Fatalf("Register(%q) created a second registration", email)
		}
		equal(t, "re-registration "+email, again, r)
	}

	got, err := s.GetRegistration(ctx, r.ID)
	must(t, err)
	equal(t, "GetRegistration", got, r)
	got, err = s.GetRegistrationByAccessCode(ctx, r.AccessCode)
	must(t, err)
	equal(t, "GetRegistrationByAccessCode", got, r)
	_, err = s.GetRegistrationByAccessCode(ctx, "WRONGCODE1")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetRegistration(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	// Same email in another workshop is another registration.
	w2 := mkWorkshop(t, s, u.ID, 3)
	r2, created, err := s.Register(ctx, &store.Registration{WorkshopID: w2.ID, Name: "Lin", Email: "lin@example.com"})
	must(t, err)
	if !created || r2.AccessCode == r.AccessCode {
		t.Fatalf("registration in a second workshop: created=%v code %s vs %s", created, r2.AccessCode, r.AccessCode)
	}

	// A given access code that exists is ErrConflict.
	_, _, err = s.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: "x@example.com", AccessCode: r.AccessCode})
	wantErr(t, err, store.ErrConflict)

	_, _, err = s.Register(ctx, &store.Registration{WorkshopID: "nope", Email: "x@example.com"})
	wantErr(t, err, store.ErrNotFound)

	// Revoked: registering again returns the revoked registration.
	revoke(t, s, w.ID, r.ID)
	again, created, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: "lin@example.com"})
	must(t, err)
	if created || again.RevokedAt == nil || again.ID != r.ID {
		t.Fatalf("re-register after revoke: created=%v reg=%+v", created, again)
	}
	revoke(t, s, w.ID, r.ID) // idempotent
	_, err = s.RevokeRegistration(ctx, w2.ID, r.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.RevokeRegistration(ctx, w.ID, "nope")
	wantErr(t, err, store.ErrNotFound)
}

func testRegisterFull(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 2)
	r1 := register(t, s, w.ID, "one@example.com")
	register(t, s, w.ID, "two@example.com")
	n, err := s.SeatsUsed(ctx, w.ID)
	must(t, err)
	equal(t, "seats used", n, 2)

	_, _, err = s.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: "three@example.com"})
	wantErr(t, err, store.ErrFull)
	// An existing learner still gets their code back when full.
	_, created, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: "ONE@example.com"})
	must(t, err)
	if created {
		t.Fatal("existing learner re-created")
	}

	// Revoking frees the place.
	revoke(t, s, w.ID, r1.ID)
	n, err = s.SeatsUsed(ctx, w.ID)
	must(t, err)
	equal(t, "seats used after revoke", n, 1)
	register(t, s, w.ID, "three@example.com")
	_, _, err = s.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: "four@example.com"})
	wantErr(t, err, store.ErrFull)
}

func testSeats(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	r1 := register(t, s, w.ID, "one@example.com")
	r2 := register(t, s, w.ID, "two@example.com")
	r3 := register(t, s, w.ID, "three@example.com")

	s2, err := s.AssignSeat(ctx, r2.ID)
	must(t, err)
	if s2.Seat != 1 || s2.Status != store.SeatAssigned || s2.WorkshopID != w.ID || s2.RegistrationID != r2.ID || s2.ID == "" {
		t.Fatalf("first seat: %+v", s2)
	}
	again, err := s.AssignSeat(ctx, r2.ID)
	must(t, err)
	equal(t, "AssignSeat again", again, s2)
	s1, err := s.AssignSeat(ctx, r1.ID)
	must(t, err)
	equal(t, "second seat number", s1.Seat, 2)

	got, err := s.GetSeat(ctx, w.ID, 1)
	must(t, err)
	equal(t, "GetSeat", got, s2)
	_, err = s.GetSeat(ctx, w.ID, 3)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.AssignSeat(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	at := odd(3 * time.Minute)
	must(t, s.TouchSeat(ctx, w.ID, 1, store.SeatConnected, at))
	got, err = s.GetSeat(ctx, w.ID, 1)
	must(t, err)
	if got.Status != store.SeatConnected || got.LastActivity == nil || !got.LastActivity.Equal(micro(at)) {
		t.Fatalf("after TouchSeat: %+v", got)
	}
	must(t, s.TouchSeat(ctx, w.ID, 1, "", at.Add(time.Second)))
	got, err = s.GetSeat(ctx, w.ID, 1)
	must(t, err)
	equal(t, "status kept by empty TouchSeat", got.Status, store.SeatConnected)
	wantErr(t, s.TouchSeat(ctx, w.ID, 3, store.SeatConnected, at), store.ErrNotFound)

	seats, err := s.ListSeats(ctx, w.ID)
	must(t, err)
	if len(seats) != 2 || seats[0].Seat != 1 || seats[1].Seat != 2 {
		t.Fatalf("ListSeats: %+v", seats)
	}

	views, err := s.ListRegistrations(ctx, w.ID)
	must(t, err)
	if len(views) != 3 {
		t.Fatalf("ListRegistrations: %d rows", len(views))
	}
	byID := map[string]store.RegistrationView{}
	for _, v := range views {
		byID[v.ID] = v
	}
	if v := byID[r2.ID]; v.Seat == nil || *v.Seat != 1 || v.SeatStatus != store.SeatConnected || v.LastActivity == nil {
		t.Errorf("view of r2: %+v", v)
	}
	if v := byID[r3.ID]; v.Seat != nil || v.SeatStatus != "" {
		t.Errorf("view of unseated r3: %+v", v)
	}
	equal(t, "view registration", byID[r1.ID].Registration, *r1)
}

func testSeatsRevoke(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	var regs []*store.Registration
	for i := 0; i < 3; i++ {
		r := register(t, s, w.ID, fmt.Sprintf("l%d@example.com", i))
		st, err := s.AssignSeat(ctx, r.ID)
		must(t, err)
		equal(t, "seat", st.Seat, i+1)
		regs = append(regs, r)
	}
	revoke(t, s, w.ID, regs[1].ID)
	_, err := s.AssignSeat(ctx, regs[1].ID)
	wantErr(t, err, store.ErrRevoked)
	_, err = s.GetSeat(ctx, w.ID, 2)
	wantErr(t, err, store.ErrNotFound)

	// The freed number is the lowest free one, and goes to the next learner.
	r := register(t, s, w.ID, "late@example.com")
	st, err := s.AssignSeat(ctx, r.ID)
	must(t, err)
	equal(t, "seat given after revoke", st.Seat, 2)
	views, err := s.ListRegistrations(ctx, w.ID)
	must(t, err)
	for _, v := range views {
		if v.ID == regs[1].ID && (v.RevokedAt == nil || v.Seat != nil) {
			t.Errorf("revoked registration view: %+v", v)
		}
	}
}

func testSeatsShrunk(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	r1 := register(t, s, w.ID, "one@example.com")
	r2 := register(t, s, w.ID, "two@example.com")
	_, err := s.AssignSeat(ctx, r1.ID)
	must(t, err)
	_, err = s.UpdateWorkshop(ctx, w.ID, func(x *store.Workshop) error { x.Seats = 1; return nil })
	must(t, err)
	_, err = s.AssignSeat(ctx, r2.ID)
	wantErr(t, err, store.ErrFull)
}

// testSeatsResized: a workshop's registration limit and free seat numbers
// follow its seats as they grow and shrink; a seat held above a smaller
// count stays held, and its number is given again only once the workshop
// has that many seats again.
func testSeatsResized(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 2)
	r1 := register(t, s, w.ID, "one@example.com")
	r2 := register(t, s, w.ID, "two@example.com")
	_, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: "three@example.com"})
	wantErr(t, err, store.ErrFull)
	resize := func(seats int) {
		t.Helper()
		_, err := s.UpdateWorkshop(ctx, w.ID, func(x *store.Workshop) error { x.Seats = seats; return nil })
		must(t, err)
	}
	resize(4)
	r3 := register(t, s, w.ID, "three@example.com")
	for i, r := range []*store.Registration{r1, r2, r3} {
		st, err := s.AssignSeat(ctx, r.ID)
		must(t, err)
		equal(t, "seat after growing", st.Seat, i+1)
	}
	resize(2) // seat 3 stays held
	got, err := s.GetSeat(ctx, w.ID, 3)
	must(t, err)
	equal(t, "seat 3 after shrinking", got.RegistrationID, r3.ID)
	revoke(t, s, w.ID, r3.ID)
	_, _, err = s.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: "four@example.com"})
	wantErr(t, err, store.ErrFull)
	resize(3)
	r4 := register(t, s, w.ID, "four@example.com")
	st, err := s.AssignSeat(ctx, r4.ID)
	must(t, err)
	equal(t, "seat 3 once the workshop has 3 seats again", st.Seat, 3)
	_, _, err = s.Register(ctx, &store.Registration{WorkshopID: w.ID, Email: "five@example.com"})
	wantErr(t, err, store.ErrFull)
	revoke(t, s, w.ID, r1.ID)
	r5 := register(t, s, w.ID, "five@example.com")
	st, err = s.AssignSeat(ctx, r5.ID)
	must(t, err)
	equal(t, "seat freed by a revoke", st.Seat, 1)
}

// testJoinsWhileResized: learners register and join while the instructor
// changes the workshop's seats back and forth. Afterwards, grown back to
// its size, the workshop gives out exactly its seats: every number 1..N
// once and N registrations, no more and no fewer (its free seat numbers and
// free places stayed exact through the races).
func testJoinsWhileResized(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	const size = 40
	w := mkWorkshop(t, s, u.ID, size)
	resize := func(seats int) error {
		_, err := s.UpdateWorkshop(ctx, w.ID, func(x *store.Workshop) error { x.Seats = seats; return nil })
		return err
	}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := fmt.Sprintf("early%02d@example.com", i)
			r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: email, Email: email})
			if err == nil {
				_, err = s.AssignSeat(ctx, r.ID)
			}
			if err != nil && !errors.Is(err, store.ErrFull) {
				t.Errorf("learner %d: %v", i, err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 10 {
			if err := resize([]int{20, size}[i%2]); err != nil {
				t.Errorf("resize %d: %v", i, err)
			}
		}
	}()
	wg.Wait()
	must(t, resize(size))
	views, err := s.ListRegistrations(ctx, w.ID)
	must(t, err)
	for _, v := range views {
		if v.Seat == nil {
			_, err := s.AssignSeat(ctx, v.ID)
			must(t, err)
		}
	}
	for i := 0; ; i++ {
		email := fmt.Sprintf("late%02d@example.com", i)
		r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: email, Email: email})
		if errors.Is(err, store.ErrFull) {
			break
		}
		must(t, err)
		_, err = s.AssignSeat(ctx, r.ID)
		must(t, err)
	}
	used, err := s.SeatsUsed(ctx, w.ID)
	must(t, err)
	equal(t, "registrations once full", used, size)
	seats, err := s.ListSeats(ctx, w.ID)
	must(t, err)
	if len(seats) != size {
		t.Fatalf("%d seats held once full, want %d", len(seats), size)
	}
	for i, st := range seats {
		if st.Seat != i+1 {
			t.Fatalf("seats held once full are not 1..%d: %d at %d", size, st.Seat, i)
		}
	}
}

// ConcurrentJoins (part of Run, exported to run alone against variants of a
// store): 100 learners per workshop register and take a seat at once, in
// several workshops at once, some with fewer seats than learners. No seat
// may be assigned twice; every learner is seated or told ErrFull; the
// seats taken are exactly 1..min(seats, learners).
func ConcurrentJoins(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	const learners = 100
	seatCounts := []int{7, 50, 100, 120}
	type result struct {
		ws   int
		seat int
		err  error
	}
	var workshops []*store.Workshop
	for _, n := range seatCounts {
		workshops = append(workshops, mkWorkshop(t, s, u.ID, n))
	}
	results := make(chan result, learners*len(workshops))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for wi, w := range workshops {
		for i := 0; i < learners; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				email := fmt.Sprintf("learner%03d@example.com", i)
				r, _, err := s.Register(ctx, &store.Registration{WorkshopID: w.ID, Name: email, Email: email})
				if err != nil {
					results <- result{wi, 0, err}
					return
				}
				st, err := s.AssignSeat(ctx, r.ID)
				if err != nil {
					results <- result{wi, 0, err}
					return
				}
				// Joining again gives the same seat.
				again, err := s.AssignSeat(ctx, r.ID)
				if err == nil && again.Seat != st.Seat {
					err = fmt.Errorf("second AssignSeat gave seat %d, first %d", again.Seat, st.Seat)
				}
				results <- result{wi, st.Seat, err}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(results)

	seated := make([]map[int]int, len(workshops))
	full := make([]int, len(workshops))
	for i := range seated {
		seated[i] = map[int]int{}
	}
	for r := range results {
		switch {
		case r.err == nil:
			seated[r.ws][r.seat]++
		case errors.Is(r.err, store.ErrFull):
			full[r.ws]++
		default:
			t.Errorf("workshop %d: unexpected error: %v", r.ws, r.err)
		}
	}
	for wi, w := range workshops {
		want := min(w.Seats, learners)
		for seat, n := range seated[wi] {
			if n != 1 {
				t.Errorf("workshop %d (%d seats): seat %d assigned %d times", wi, w.Seats, seat, n)
			}
			if seat < 1 || seat > w.Seats {
				t.Errorf("workshop %d: seat %d out of 1..%d", wi, seat, w.Seats)
			}
		}
		if len(seated[wi]) != want || len(seated[wi])+full[wi] != learners {
			t.Errorf("workshop %d (%d seats): %d seated, %d full, want %d seated of %d",
				wi, w.Seats, len(seated[wi]), full[wi], want, learners)
		}
		seats, err := s.ListSeats(ctx, w.ID)
		must(t, err)
		if len(seats) != want {
			t.Errorf("workshop %d: ListSeats has %d rows, want %d", wi, len(seats), want)
		}
		for i, st := range seats {
			if st.Seat != i+1 {
				t.Errorf("workshop %d: seats are not 1..%d: %d at %d", wi, want, st.Seat, i)
				break
			}
		}
		used, err := s.SeatsUsed(ctx, w.ID)
		must(t, err)
		equal(t, "seats used", used, want)
	}
}

// ---- events ------------------------------------------------------------------

func testEvents(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 1)
	other := mkWorkshop(t, s, u.ID, 1)

	var added []store.Event
	for i := 0; i < 5; i++ {
		e := &store.Event{WorkshopID: w.ID, Message: fmt.Sprintf("event %d", i), Step: "create_vm"}
		if i == 3 {
			e.Level, e.At = "error", odd(0)
		}
		must(t, s.AddEvent(ctx, e))
		must(t, s.AddEvent(ctx, &store.Event{WorkshopID: other.ID, Message: "noise"}))
		if e.ID == 0 || e.At.IsZero() {
			t.Fatalf("AddEvent did not fill ID/At: %+v", e)
		}
		if i == 0 {
			equal(t, "default level", e.Level, "info")
		}
		if len(added) > 0 && e.ID <= added[len(added)-1].ID {
			t.Fatalf("event ids not increasing: %d after %d", e.ID, added[len(added)-1].ID)
		}
		added = append(added, *e)
	}
	all, err := s.ListEvents(ctx, w.ID, 0, 0)
	must(t, err)
	equal(t, "all events", all, added)
	equal(t, "at", all[3].At, micro(odd(0)))

	cases := []struct {
		name    string
		afterID int64
		limit   int
		want    []store.Event
	}{
		{"after second", added[1].ID, 0, added[2:]},
		{"after second, limit 2: the newest two", added[1].ID, 2, added[3:5]},
		{"limit 1: the newest", 0, 1, added[4:5]},
		{"limit larger than the rest", added[2].ID, 10, added[3:5]},
		{"after last", added[4].ID, 10, []store.Event{}},
	}
	for _, c := range cases {
		got, err := s.ListEvents(ctx, w.ID, c.afterID, c.limit)
		must(t, err)
		equal(t, c.name, got, c.want)
	}
	none, err := s.ListEvents(ctx, "nope", 0, 10)
	must(t, err)
	equal(t, "events of unknown workshop", len(none), 0)
}

// ---- leases ------------------------------------------------------------------

func testLeases(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	steps := []struct {
		name, lease, holder string
		release             bool
		want                bool
	}{
		{"free", "ws:1", "a", false, true},
		{"held by other", "ws:1", "b", false, false},
		{"same holder extends", "ws:1", "a", false, true},
		{"other lease is free", "ws:2", "b", false, true},
		{"release by non-holder is a no-op", "ws:1", "b", true, false},
		{"still held", "ws:1", "b", false, false},
		{"release by holder", "ws:1", "a", true, false},
		{"free after release", "ws:1", "b", false, true},
		{"now held by b", "ws:1", "a", false, false},
	}
	for _, st := range steps {
		if st.release {
			must(t, s.ReleaseLease(ctx, st.lease, st.holder))
			continue
		}
		got, err := s.TryLease(ctx, st.lease, st.holder, time.Minute)
		must(t, err)
		if got != st.want {
			t.Fatalf("%s: TryLease(%s, %s) = %v, want %v", st.name, st.lease, st.holder, got, st.want)
		}
	}
}

func testLeaseExpiry(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	// A lease written already expired is free for anyone.
	ok, err := s.TryLease(ctx, "past", "a", -time.Minute)
	must(t, err)
	if !ok {
		t.Fatal("TryLease on a free name failed")
	}
	ok, err = s.TryLease(ctx, "past", "b", time.Minute)
	must(t, err)
	if !ok {
		t.Fatal("expired lease was not taken over")
	}
	ok, err = s.TryLease(ctx, "past", "a", time.Minute)
	must(t, err)
	if ok {
		t.Fatal("lease taken over from a live holder")
	}

	// A short lease expires by itself: poll until another holder gets it.
	ok, err = s.TryLease(ctx, "short", "a", 300*time.Millisecond)
	must(t, err)
	if !ok {
		t.Fatal("TryLease on a free name failed")
	}
	ok, err = s.TryLease(ctx, "short", "b", time.Minute)
	must(t, err)
	if ok {
		t.Fatal("short lease taken over before it expired")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err = s.TryLease(ctx, "short", "b", time.Minute)
		must(t, err)
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("short lease never expired")
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for work
	}
}

// ---- workshop VMs ------------------------------------------------------------

func testWorkshopVMs(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 2)
	w2 := mkWorkshop(t, s, u.ID, 2)

	_, err := s.GetWorkshopVM(ctx, w.ID)
	wantErr(t, err, store.ErrNotFound)

	vm := &store.WorkshopVM{WorkshopID: w.ID, Name: "clarateach-" + w.ID, Zone: "us-central1-b", Status: "creating"}
	must(t, s.UpsertWorkshopVM(ctx, vm))
	if vm.ID == "" || vm.CreatedAt.IsZero() || vm.UpdatedAt.IsZero() {
		t.Fatalf("UpsertWorkshopVM did not fill ID/CreatedAt/UpdatedAt: %+v", vm)
	}
	got, err := s.GetWorkshopVM(ctx, w.ID)
	must(t, err)
	equal(t, "GetWorkshopVM (no steps)", got, vm)

	firstID, firstCreated := vm.ID, vm.CreatedAt
	steps := []store.Step{
		{Name: "create_vm", Status: "done", StartedAt: odd(0), FinishedAt: ptr(odd(41 * time.Second))},
		{Name: "wait_agent", Status: "failed", StartedAt: odd(42 * time.Second), FinishedAt: ptr(odd(time.Minute)), Error: "agent \"x\" unreachable\n<timeout>"},
		{Name: "retry", Status: "running", StartedAt: odd(2 * time.Minute)},
	}
	upd := &store.WorkshopVM{WorkshopID: w.ID, Name: vm.Name, Zone: vm.Zone, IP: "10.0.0.7", Status: "running",
		AgentURL: "http://10.0.0.7:9090", Steps: steps}
	must(t, s.UpsertWorkshopVM(ctx, upd))
	equal(t, "upsert keeps id", upd.ID, firstID)
	equal(t, "upsert keeps created_at", upd.CreatedAt, firstCreated)
	got, err = s.GetWorkshopVM(ctx, w.ID)
	must(t, err)
	equal(t, "GetWorkshopVM after update", got, upd)
	equal(t, "step time", got.Steps[0].StartedAt, micro(odd(0)))
	equal(t, "step error", got.Steps[1].Error, steps[1].Error)

	vm2 := &store.WorkshopVM{WorkshopID: w2.ID, Name: "second", Status: "creating"}
	must(t, s.UpsertWorkshopVM(ctx, vm2))
	all, err := s.ListWorkshopVMs(ctx)
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("ListWorkshopVMs: %d rows", len(all))
	}
	must(t, s.DeleteWorkshopVM(ctx, w.ID))
	_, err = s.GetWorkshopVM(ctx, w.ID)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.DeleteWorkshopVM(ctx, w.ID)) // idempotent
	all, err = s.ListWorkshopVMs(ctx)
	must(t, err)
	if len(all) != 1 || all[0].WorkshopID != w2.ID {
		t.Fatalf("ListWorkshopVMs after delete: %+v", all)
	}

	err = s.UpsertWorkshopVM(ctx, &store.WorkshopVM{WorkshopID: "nope", Name: "x"})
	if err == nil {
		t.Fatal("VM for a missing workshop was accepted")
	}
}

// testTransition: a reconciler step's workshop change, host record and
// events are written together, or not at all.
func testTransition(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "owner@example.com")
	w := mkWorkshop(t, s, u.ID, 2)

	vm := &store.WorkshopVM{Name: "host-1", Status: "pending",
		Steps: []store.Step{{Name: "create_host", Status: store.StepRunning, StartedAt: odd(0)}}}
	got, err := s.Transition(ctx, w.ID, store.Transition{
		Workshop: func(w *store.Workshop) error {
			w.Status, w.Step = store.StatusProvisioning, "create_host"
			return nil
		},
		Host: vm,
		Events: []*store.Event{
			{Level: "info", Step: "create_host", Message: "first"},
			{Level: "warn", Message: "second"},
		},
	})
	must(t, err)
	if got.Status != store.StatusProvisioning || got.Step != "create_host" {
		t.Fatalf("Transition returned %+v", got)
	}
	if vm.ID == "" || vm.WorkshopID != w.ID || vm.CreatedAt.IsZero() {
		t.Fatalf("Transition did not fill the host record: %+v", vm)
	}
	rw, err := s.GetWorkshop(ctx, w.ID)
	must(t, err)
	equal(t, "workshop after transition", rw.Status, store.StatusProvisioning)
	rvm, err := s.GetWorkshopVM(ctx, w.ID)
	must(t, err)
	equal(t, "host after transition", rvm, vm)
	evs, err := s.ListEvents(ctx, w.ID, 0, 0)
	must(t, err)
	if len(evs) != 2 || evs[0].Message != "first" || evs[0].Step != "create_host" || evs[1].Level != "warn" || evs[0].WorkshopID != w.ID {
		t.Fatalf("events after transition: %+v", evs)
	}

	// Only events: the workshop is returned as it is.
	got, err = s.Transition(ctx, w.ID, store.Transition{Events: []*store.Event{{Message: "third"}}})
	must(t, err)
	equal(t, "workshop of an events-only transition", got.Status, store.StatusProvisioning)

	// A refused workshop (seats must be > 0) undoes the host and events.
	failing := store.Transition{
		Workshop:   func(w *store.Workshop) error { w.Seats = 0; return nil },
		DeleteHost: true,
		Events:     []*store.Event{{Message: "never"}},
	}
	if _, err := s.Transition(ctx, w.ID, failing); err == nil {
		t.Fatal("a transition to 0 seats was accepted")
	}
	// fn's error aborts everything and is returned as is.
	sentinel := errors.New("no")
	_, err = s.Transition(ctx, w.ID, store.Transition{
		Workshop: func(*store.Workshop) error { return sentinel },
		Host:     &store.WorkshopVM{Name: "other"},
		Events:   []*store.Event{{Message: "never"}},
	})
	if err != sentinel {
		t.Fatalf("Transition error = %v, want fn's error as is", err)
	}
	rvm, err = s.GetWorkshopVM(ctx, w.ID)
	must(t, err)
	equal(t, "host after failed transitions", rvm.Name, "host-1")
	evs, err = s.ListEvents(ctx, w.ID, 0, 0)
	must(t, err)
	if len(evs) != 3 {
		t.Fatalf("failed transitions left events: %+v", evs)
	}

	// Workshop runs before the events are written: it may complete them.
	e := &store.Event{Level: "error"}
	_, err = s.Transition(ctx, w.ID, store.Transition{
		Workshop: func(w *store.Workshop) error {
			w.Attempts++
			e.Message = fmt.Sprintf("attempt %d", w.Attempts)
			return nil
		},
		Events: []*store.Event{e},
	})
	must(t, err)
	evs, err = s.ListEvents(ctx, w.ID, evs[2].ID, 0)
	must(t, err)
	if len(evs) != 1 || evs[0].Message != "attempt 1" || evs[0].ID != e.ID {
		t.Fatalf("event completed by Workshop: %+v", evs)
	}

	// Deleting the host record, and a missing workshop.
	_, err = s.Transition(ctx, w.ID, store.Transition{DeleteHost: true})
	must(t, err)
	_, err = s.GetWorkshopVM(ctx, w.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Transition(ctx, "nope", store.Transition{Events: []*store.Event{{Message: "x"}}})
	wantErr(t, err, store.ErrNotFound)
}

// ---- times ---------------------------------------------------------------------

// testTimeRoundTrip: every time the store returns is UTC, truncated to the
// microsecond, and equal to what was written.
func testTimeRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	in := odd(0)
	u := &store.User{Email: "t@example.com", PasswordHash: "x", CreatedAt: in}
	must(t, s.CreateUser(ctx, u))
	got, err := s.GetUser(ctx, u.ID)
	must(t, err)
	if got.CreatedAt != micro(in) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("user created_at %v (%v), want %v UTC", got.CreatedAt, got.CreatedAt.Location(), micro(in))
	}
	equal(t, "value filled into the argument", u.CreatedAt, micro(in))

	w := &store.Workshop{OwnerID: u.ID, Name: "t", Seats: 1, CreatedAt: in, StartsAt: ptr(in.Add(time.Nanosecond)),
		EndsAt: ptr(in.Add(999 * time.Nanosecond)), DeletedAt: ptr(in.Add(-time.Hour))}
	must(t, s.CreateWorkshop(ctx, w))
	gw, err := s.GetWorkshop(ctx, w.ID)
	must(t, err)
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"created_at", gw.CreatedAt, micro(in)},
		{"updated_at", gw.UpdatedAt, micro(in)},
		{"starts_at", *gw.StartsAt, micro(in)},
		{"ends_at", *gw.EndsAt, micro(in.Add(999 * time.Nanosecond))},
		{"deleted_at", *gw.DeletedAt, micro(in.Add(-time.Hour))},
	} {
		if c.got != c.want || c.got.Location() != time.UTC {
			t.Errorf("%s = %v (%v), want %v", c.name, c.got, c.got.Location(), c.want)
		}
	}
	// Ordinary values: nanosecond zero, far past and future.
	for _, v := range []time.Time{
		time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2100, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC),
	} {
		a := &store.AuthSession{UserID: u.ID, CreatedAt: v, ExpiresAt: v}
		must(t, s.CreateAuthSession(ctx, a))
		ga, err := s.GetAuthSession(ctx, a.ID)
		must(t, err)
		if ga.CreatedAt != v || ga.ExpiresAt != v {
			t.Errorf("round trip of %v: %v / %v", v, ga.CreatedAt, ga.ExpiresAt)
		}
	}
}

func testPurgeWorkshop(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	u := mkUser(t, s, "purge@example.com")
	w := mkWorkshop(t, s, u.ID, 3)
	keep := mkWorkshop(t, s, u.ID, 3)
	r := register(t, s, w.ID, "l@example.com")
	_, err := s.AssignSeat(ctx, r.ID)
	must(t, err)
	kr := register(t, s, keep.ID, "k@example.com")
	must(t, s.AddEvent(ctx, &store.Event{WorkshopID: w.ID, Message: "hello"}))
	must(t, s.UpsertWorkshopVM(ctx, &store.WorkshopVM{WorkshopID: w.ID, Name: "vm", Status: "running"}))

	// Only a deleted workshop can be purged.
	wantErr(t, s.PurgeWorkshop(ctx, w.ID), store.ErrConflict)
	wantErr(t, s.PurgeWorkshop(ctx, "nosuchworkshop"), store.ErrNotFound)
	_, err = s.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error {
		w.Status, w.DesiredState = store.StatusDeleted, store.DesiredDeleted
		return nil
	})
	must(t, err)
	must(t, s.PurgeWorkshop(ctx, w.ID))

	_, err = s.GetWorkshop(ctx, w.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetRegistration(ctx, r.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetWorkshopVM(ctx, w.ID)
	wantErr(t, err, store.ErrNotFound)
	ev, err := s.ListEvents(ctx, w.ID, 0, 10)
	must(t, err)
	equal(t, "events of a purged workshop", len(ev), 0)
	wantErr(t, s.PurgeWorkshop(ctx, w.ID), store.ErrNotFound)
	// Other workshops are untouched.
	_, err = s.GetRegistration(ctx, kr.ID)
	must(t, err)
}
