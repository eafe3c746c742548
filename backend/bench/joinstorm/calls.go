package main

import (
	"github.com/clarateach/backend/bench/internal/cputime"

	"context"
	"fmt"
	"time"

	"github.com/clarateach/backend/internal/authtoken"
	"github.com/clarateach/backend/internal/controlplane/store"
)

// storeCalls is -calls: the store call of a register and of a join, each made
// n times in a row from one goroutine (no contention), with the CPU each
// costs this process and PostgreSQL. It shows which call a storm's
// PostgreSQL CPU goes to. pgCPU is 0 for SQLite (its CPU is this process's).
func storeCalls(ctx context.Context, st store.Store, ownerID string, n, seats int, pgCPU func() time.Duration) error {
	nws := (n + seats - 1) / seats
	ws := make([]*store.Workshop, nws)
	for i := range ws {
		ws[i] = &store.Workshop{OwnerID: ownerID, Name: fmt.Sprintf("calls %d", i), Seats: seats,
			Status: store.StatusRunning, DesiredState: store.DesiredRunning, AgentURL: "http://127.0.0.1:1"}
		if err := st.CreateWorkshop(ctx, ws[i]); err != nil {
			return err
		}
	}
	regs := make([]*store.Registration, n)
	type call struct {
		name string
		fn   func(i int) error
	}
	calls := []call{
		{"RegisterByCode (with event)", func(i int) error {
			_, r, _, err := st.RegisterByCode(ctx, ws[i%nws].Code, &store.Registration{Name: "L",
				Email: fmt.Sprintf("c%d@example.com", i), AccessCode: authtoken.Code(authtoken.AccessCodeLen)},
				time.Now(), store.Event{Message: "learner registered"})
			regs[i] = r
			return err
		}},
		{"JoinByCode", func(i int) error { _, _, _, err := st.JoinByCode(ctx, regs[i].AccessCode, time.Now()); return err }},
	}
	fmt.Printf("  store calls, %d each in a row from one goroutine (CPU per call: this process / PostgreSQL; wall):\n", n)
	var sumSelf, sumPG time.Duration
	for _, c := range calls {
		self0, pg0 := cputime.Self(), pgCPU()
		t0 := time.Now()
		for i := range n {
			if err := c.fn(i); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
		wall := time.Since(t0)
		self, pg := cputime.Self()-self0, pgCPU()-pg0
		sumSelf += self
		sumPG += pg
		fmt.Printf("    %-28s %.3f / %.3f ms   %.3f ms\n", c.name, ms(self)/float64(n), ms(pg)/float64(n), ms(wall)/float64(n))
	}
	fmt.Printf("    %-28s %.3f / %.3f ms   (per learner: one register and one join)\n", "all", ms(sumSelf)/float64(n), ms(sumPG)/float64(n))
	return nil
}
