package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clarateach/backend/internal/controlplane/store"
)

var errOverQuota = errors.New("over quota")

func testQuotas(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mkUser(t, s, "quota-a@example.com")
	_, err := s.GetQuota(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound)
	q := store.Quota{RunningWorkshops: 3, Seats: 45, WorkshopHours: 6}
	must(t, s.SetQuota(ctx, a.ID, q))
	got, err := s.GetQuota(ctx, a.ID)
	must(t, err)
	equal(t, "quota", *got, q)
	q.Seats = 0
	must(t, s.SetQuota(ctx, a.ID, q)) // overwrite; 0 seats is allowed
	got, err = s.GetQuota(ctx, a.ID)
	must(t, err)
	equal(t, "quota after update", *got, q)
	if err := s.SetQuota(ctx, a.ID, store.Quota{RunningWorkshops: -1, Seats: 1, WorkshopHours: 1}); err == nil {
		t.Fatal("negative quota accepted")
	}
	if err := s.SetQuota(ctx, a.ID, store.Quota{RunningWorkshops: 1, Seats: 1, WorkshopHours: 0}); err == nil {
		t.Fatal("zero workshop hours accepted")
	}
	wantErr(t, s.SetQuota(ctx, "no-such-user", q), store.ErrNotFound)
	must(t, s.DeleteQuota(ctx, a.ID))
	must(t, s.DeleteQuota(ctx, a.ID)) // idempotent
	_, err = s.GetQuota(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound)

	users, err := s.ListUsers(ctx)
	must(t, err)
	if len(users) != 1 || users[0].ID != a.ID {
		t.Fatalf("ListUsers = %+v", users)
	}
}

func testOwnerUsage(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mkUser(t, s, "usage-a@example.com")
	b := mkUser(t, s, "usage-b@example.com")
	run := func(owner string, seats int, mut func(*store.Workshop)) *store.Workshop {
		w := &store.Workshop{OwnerID: owner, Name: "u", Seats: seats, DesiredState: store.DesiredRunning}
		if mut != nil {
			mut(w)
		}
		must(t, s.CreateWorkshop(ctx, w))
		return w
	}
	w1 := run(a.ID, 10, nil)
	run(a.ID, 5, nil)
	run(a.ID, 7, func(w *store.Workshop) { w.DesiredState = store.DesiredStopped })
	run(a.ID, 9, func(w *store.Workshop) { w.DesiredState, w.Status = store.DesiredDeleted, store.StatusDeleted })
	run(b.ID, 30, nil)
	u, err := s.OwnerUsage(ctx, a.ID)
	must(t, err)
	equal(t, "usage", u, store.Usage{RunningWorkshops: 2, Seats: 15})

	// UpdateWorkshopWithin sees the owner's other workshops only.
	var seen store.Usage
	_, err = s.UpdateWorkshopWithin(ctx, w1.ID, func(w *store.Workshop, others store.Usage) error {
		seen = others
		w.Name = "renamed"
		return nil
	})
	must(t, err)
	equal(t, "others", seen, store.Usage{RunningWorkshops: 1, Seats: 5})
	got, err := s.GetWorkshop(ctx, w1.ID)
	must(t, err)
	equal(t, "name", got.Name, "renamed")
	// fn's error aborts the update.
	_, err = s.UpdateWorkshopWithin(ctx, w1.ID, func(w *store.Workshop, _ store.Usage) error {
		w.Name = "lost"
		return errOverQuota
	})
	wantErr(t, err, errOverQuota)
	got, _ = s.GetWorkshop(ctx, w1.ID)
	equal(t, "name after abort", got.Name, "renamed")
	_, err = s.UpdateWorkshopWithin(ctx, "missing", func(*store.Workshop, store.Usage) error { return nil })
	wantErr(t, err, store.ErrNotFound)

	// CreateWorkshopWithin: check sees the usage; its error creates nothing.
	w := &store.Workshop{OwnerID: a.ID, Name: "c", Seats: 3}
	err = s.CreateWorkshopWithin(ctx, w, func(u store.Usage) error {
		seen = u
		return errOverQuota
	})
	wantErr(t, err, errOverQuota)
	equal(t, "usage at create", seen, store.Usage{RunningWorkshops: 2, Seats: 15})
	list, err := s.ListWorkshops(ctx, store.WorkshopFilter{OwnerID: a.ID, IncludeDeleted: true})
	must(t, err)
	if len(list) != 4 {
		t.Fatalf("a refused create left a workshop: %d workshops", len(list))
	}
	w = &store.Workshop{OwnerID: a.ID, Name: "c", Seats: 3}
	must(t, s.CreateWorkshopWithin(ctx, w, func(store.Usage) error { return nil }))
	if w.ID == "" || w.Code == "" {
		t.Fatalf("created workshop without id or code: %+v", w)
	}
	err = s.CreateWorkshopWithin(ctx, &store.Workshop{OwnerID: "nobody", Name: "x", Seats: 1}, func(store.Usage) error { return nil })
	wantErr(t, err, store.ErrNotFound)
}

// QuotaRace starts n stopped workshops of one owner at once, each through
// UpdateWorkshopWithin with a limit of `limit` running workshops: exactly
// limit may end up running, under any interleaving.
func QuotaRace(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n, limit = 12, 3
	owner := mkUser(t, s, "race@example.com")
	ids := make([]string, n)
	for i := range ids {
		ids[i] = mkWorkshop(t, s, owner.ID, 2).ID
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = s.UpdateWorkshopWithin(ctx, id, func(w *store.Workshop, others store.Usage) error {
				if others.RunningWorkshops+1 > limit {
					return errOverQuota
				}
				w.DesiredState = store.DesiredRunning
				return nil
			})
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, errOverQuota):
			t.Fatalf("start %d: %v", i, err)
		}
	}
	u, err := s.OwnerUsage(ctx, owner.ID)
	must(t, err)
	if ok != limit || u.RunningWorkshops != limit {
		t.Fatalf("%d starts succeeded and %d workshops run, want %d", ok, u.RunningWorkshops, limit)
	}
}

func testInvites(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	admin := mkUser(t, s, "admin-inv@example.com")
	now := time.Now().UTC()
	open := &store.Invite{TokenHash: "h-open", CreatedBy: admin.ID, ExpiresAt: now.Add(time.Hour)}
	named := &store.Invite{TokenHash: "h-named", Email: " Bea@Example.com ", CreatedBy: admin.ID, ExpiresAt: odd(0)}
	expired := &store.Invite{TokenHash: "h-old", CreatedBy: admin.ID, ExpiresAt: now.Add(-time.Second)}
	for _, inv := range []*store.Invite{open, named, expired} {
		must(t, s.CreateInvite(ctx, inv))
	}
	equal(t, "named email", named.Email, "bea@example.com")
	wantErr(t, s.CreateInvite(ctx, &store.Invite{TokenHash: "h-open", CreatedBy: admin.ID, ExpiresAt: now}), store.ErrConflict)
	list, err := s.ListInvites(ctx)
	must(t, err)
	if len(list) != 3 {
		t.Fatalf("ListInvites: %d", len(list))
	}
	for _, inv := range list {
		if inv.ID == named.ID {
			equal(t, "named expiry", inv.ExpiresAt, micro(odd(0)))
		}
	}

	user := func(email string) *store.User {
		return &store.User{Email: email, Name: "N", PasswordHash: "h", Role: store.RoleInstructor}
	}
	_, err = s.CreateUserWithInvite(ctx, user("x@example.com"), "h-unknown", now)
	wantErr(t, err, store.ErrInvite)
	_, err = s.CreateUserWithInvite(ctx, user("x@example.com"), "h-old", now)
	wantErr(t, err, store.ErrInvite)
	_, err = s.CreateUserWithInvite(ctx, user("x@example.com"), "h-named", now) // another email
	wantErr(t, err, store.ErrInvite)
	// A taken email leaves the invite usable.
	_, err = s.CreateUserWithInvite(ctx, user("admin-inv@example.com"), "h-open", now)
	wantErr(t, err, store.ErrConflict)
	u := user("Cy@example.com")
	inv, err := s.CreateUserWithInvite(ctx, u, "h-open", now)
	must(t, err)
	if inv.ID != open.ID || inv.UsedAt == nil || inv.UsedBy != u.ID {
		t.Fatalf("used invite = %+v", inv)
	}
	if got, err := s.GetUserByEmail(ctx, "cy@example.com"); err != nil || got.ID != u.ID {
		t.Fatalf("invited user: %+v %v", got, err)
	}
	_, err = s.CreateUserWithInvite(ctx, user("dee@example.com"), "h-open", now) // single use
	wantErr(t, err, store.ErrInvite)
	_, err = s.CreateUserWithInvite(ctx, user("bea@example.com"), "h-named", now)
	must(t, err)

	// Racing uses of one invite: exactly one account.
	race := &store.Invite{TokenHash: "h-race", CreatedBy: admin.ID, ExpiresAt: now.Add(time.Hour)}
	must(t, s.CreateInvite(ctx, race))
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateUserWithInvite(ctx, user(fmt.Sprintf("race%d@example.com", i)), "h-race", now)
			if err == nil {
				mu.Lock()
				created++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrInvite) {
				t.Errorf("race %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("one invite created %d accounts", created)
	}
	must(t, s.DeleteInvite(ctx, expired.ID))
	wantErr(t, s.DeleteInvite(ctx, expired.ID), store.ErrNotFound)
}

func testMembers(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	owner := mkUser(t, s, "owner-m@example.com")
	ta := mkUser(t, s, "ta-m@example.com")
	w := mkWorkshop(t, s, owner.ID, 3)
	other := mkWorkshop(t, s, owner.ID, 3)
	_, err := s.GetMember(ctx, w.ID, ta.ID)
	wantErr(t, err, store.ErrNotFound)
	must(t, s.AddMember(ctx, &store.Member{WorkshopID: w.ID, UserID: ta.ID}))
	wantErr(t, s.AddMember(ctx, &store.Member{WorkshopID: w.ID, UserID: ta.ID}), store.ErrConflict)
	wantErr(t, s.AddMember(ctx, &store.Member{WorkshopID: "missing", UserID: ta.ID}), store.ErrNotFound)
	wantErr(t, s.AddMember(ctx, &store.Member{WorkshopID: w.ID, UserID: "missing"}), store.ErrNotFound)
	m, err := s.GetMember(ctx, w.ID, ta.ID)
	must(t, err)
	if m.Role != store.MemberAssistant || m.Email != "ta-m@example.com" || m.Name != ta.Name || m.CreatedAt.IsZero() {
		t.Fatalf("member = %+v", m)
	}
	list, err := s.ListMembers(ctx, w.ID)
	must(t, err)
	equal(t, "members", list, []store.Member{*m})
	list, err = s.ListMembers(ctx, other.ID)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("other workshop has members %+v", list)
	}
	ws, err := s.ListMemberWorkshops(ctx, ta.ID)
	must(t, err)
	if len(ws) != 1 || ws[0].ID != w.ID {
		t.Fatalf("ListMemberWorkshops = %+v", ws)
	}
	// Deleted workshops are not listed.
	_, err = s.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error { w.DesiredState = store.DesiredDeleted; return nil })
	must(t, err)
	ws, err = s.ListMemberWorkshops(ctx, ta.ID)
	must(t, err)
	if len(ws) != 0 {
		t.Fatalf("deleted workshop still listed: %+v", ws)
	}
	must(t, s.RemoveMember(ctx, w.ID, ta.ID))
	wantErr(t, s.RemoveMember(ctx, w.ID, ta.ID), store.ErrNotFound)
	// Purging a workshop removes its members.
	must(t, s.AddMember(ctx, &store.Member{WorkshopID: w.ID, UserID: ta.ID}))
	_, err = s.UpdateWorkshop(ctx, w.ID, func(w *store.Workshop) error { w.Status = store.StatusDeleted; return nil })
	must(t, err)
	must(t, s.PurgeWorkshop(ctx, w.ID))
	_, err = s.GetMember(ctx, w.ID, ta.ID)
	wantErr(t, err, store.ErrNotFound)
}
