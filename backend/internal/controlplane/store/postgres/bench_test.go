package postgres_test

import (
	"context"
	"testing"

	"github.com/clarateach/backend/internal/controlplane/store"
	"github.com/clarateach/backend/internal/controlplane/store/storetest"
)

// BenchmarkJoinStorm: 300 learners register and take a seat at once, in one
// workshop of 300 seats (the worst case: every join contends for the same
// workshop lock) and spread over 10 workshops of 30.
func BenchmarkJoinStorm(b *testing.B) {
	for _, bc := range []struct {
		name             string
		workshops, seats int
	}{{"1x300", 1, 300}, {"10x30", 10, 30}} {
		b.Run(bc.name, func(b *testing.B) {
			s := storetest.NewPostgres(b)
			ctx := context.Background()
			u := &store.User{Email: "owner@example.com", PasswordHash: "x"}
			if err := s.CreateUser(ctx, u); err != nil {
				b.Fatal(err)
			}
			for range b.N {
				var ws []*store.Workshop
				for range bc.workshops {
					w := &store.Workshop{OwnerID: u.ID, Name: "storm", Seats: bc.seats}
					if err := s.CreateWorkshop(ctx, w); err != nil {
						b.Fatal(err)
					}
					ws = append(ws, w)
				}
				res := storetest.JoinStorm(ctx, s, ws, 300)
				b.Log(res)
				if res.Errors > 0 || res.Seated != 300 {
					b.Fatalf("storm: %v", res)
				}
				b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
			}
		})
	}
}
