package benchdb

import "testing"

// PoolDSN sets pool_max_conns whether or not the URL already has a query
// (CLARATEACH_TEST_DATABASE_URL may have none), and leaves SQLite and n <= 0
// alone.
func TestPoolDSN(t *testing.T) {
	for _, c := range []struct {
		db   DB
		n    int
		want string
	}{
		{DB{DSN: "postgres://postgres@127.0.0.1:5432/b_1", Name: "b_1"}, 4, "postgres://postgres@127.0.0.1:5432/b_1?pool_max_conns=4"},
		{DB{DSN: "postgres://postgres@127.0.0.1:5432/b_1?sslmode=disable", Name: "b_1"}, 4, "postgres://postgres@127.0.0.1:5432/b_1?pool_max_conns=4&sslmode=disable"},
		{DB{DSN: "postgres://h/b_1?pool_max_conns=10", Name: "b_1"}, 2, "postgres://h/b_1?pool_max_conns=2"},
		{DB{DSN: "postgres://h/b_1", Name: "b_1"}, 0, "postgres://h/b_1"},
		{DB{DSN: "sqlite:/tmp/x/bench.db"}, 4, "sqlite:/tmp/x/bench.db"},
	} {
		if got := c.db.PoolDSN(c.n); got != c.want {
			t.Errorf("%q.PoolDSN(%d) = %q, want %q", c.db.DSN, c.n, got, c.want)
		}
	}
}
