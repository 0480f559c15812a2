package pgtokens_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/internal/tokentest/storetest"
	"github.com/handoffkit/handoffkit/pgtokens"
	"github.com/handoffkit/handoffkit/session"
)

// TestContract runs the contract suite of bluenexus.TokenStore on the
// real PostgreSQL, a fresh table per subtest.
func TestContract(t *testing.T) {
	storetest.Contract(t, func(t *testing.T) bluenexus.TokenStore {
		store, err := pgtokens.New(database(t))
		if err != nil {
			t.Fatal(err)
		}
		return store
	})
}

// canaryPair is a pair whose tokens a test looks for in errors.
func canaryPair(n int) bluenexus.Token {
	return bluenexus.Token{
		AccessToken:   bluenexus.AccessToken(fmt.Sprintf("CANARY-at-%d", n)),
		RefreshToken:  bluenexus.RefreshToken(fmt.Sprintf("CANARY-rt-%d", n)),
		Expiry:        time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		RefreshExpiry: time.Date(2030, 1, 9, 3, 4, 5, 0, time.UTC),
		Scope:         "connections",
	}
}

// TestMigration: the migration creates the table of the TokenStore doc,
// and running it again (at every start) changes nothing.
func TestMigration(t *testing.T) {
	ctx := context.Background()
	pool := database(t)
	store, err := pgtokens.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(ctx, "alice", canaryPair(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, migration(t)); err != nil {
		t.Fatalf("migration run again: %v", err)
	}
	if tok, ok, err := store.Load(ctx, "alice"); err != nil || !ok || tok.RefreshToken != canaryPair(1).RefreshToken {
		t.Fatalf("Load after the migration ran again: %v %v", ok, err)
	}
	rows, err := pool.Query(ctx, `SELECT column_name || ' ' || data_type || ' ' || is_nullable
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'bluenexus_tokens'
		ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"user_id text NO", "access_token text NO", "refresh_token text NO",
		"expires_at timestamp with time zone YES", "refresh_expires_at timestamp with time zone YES",
		"scope text NO", "lease_holder text YES", "lease_until timestamp with time zone YES",
	}
	if strings.Join(cols, ", ") != strings.Join(want, ", ") {
		t.Errorf("columns:\n %s\nwant\n %s", strings.Join(cols, ", "), strings.Join(want, ", "))
	}
}

func TestNewNilPool(t *testing.T) {
	if _, err := pgtokens.New(nil); err == nil {
		t.Error("New(nil): no error")
	}
}

// TestLeaseByDatabaseClock: a lease runs out by the database's clock,
// whatever the app's says: it holds until lease_until passes now().
func TestLeaseByDatabaseClock(t *testing.T) {
	ctx := context.Background()
	pool := database(t)
	store, err := pgtokens.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	tok := canaryPair(1)
	if err := store.Save(ctx, "alice", tok); err != nil {
		t.Fatal(err)
	}
	lease := func(holder string) bool {
		t.Helper()
		ok, err := store.Lease(ctx, "alice", tok.RefreshToken, holder, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !lease("a") || lease("b") {
		t.Fatal("want a's lease taken and b refused")
	}
	var left time.Duration
	if err := pool.QueryRow(ctx, "SELECT EXTRACT(EPOCH FROM lease_until - now())::float8 * 1e9 FROM bluenexus_tokens").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left <= 59*time.Minute || left > time.Hour {
		t.Fatalf("lease runs out %v after the database's now(), want an hour", left)
	}
	// The database's hour passes.
	if _, err := pool.Exec(ctx, "UPDATE bluenexus_tokens SET lease_until = now() - interval '1 microsecond'"); err != nil {
		t.Fatal(err)
	}
	if !lease("b") {
		t.Fatal("b refused after a's lease ran out by the database's clock")
	}
}

// TestErrorsHoldNoToken (SECURITY.md E5): a server error about a row
// quotes the row in its detail; the store's error keeps the code and the
// constraint, and no token anywhere in the chain.
func TestErrorsHoldNoToken(t *testing.T) {
	ctx := context.Background()
	pool := database(t)
	store, err := pgtokens.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(ctx, "bob", canaryPair(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CREATE UNIQUE INDEX one_rt ON bluenexus_tokens (refresh_token);
		ALTER TABLE bluenexus_tokens ADD CONSTRAINT short_at CHECK (length(access_token) < 12)`); err != nil {
		t.Fatal(err)
	}
	long := canaryPair(1)
	long.AccessToken = "CANARY-at-too-long"
	for _, tc := range []struct {
		name, code string
		call       func() error
	}{
		{"save, check violation", "23514", func() error { return store.Save(ctx, "alice", long) }},
		{"save, unique violation", "23505", func() error { return store.Save(ctx, "alice", canaryPair(2)) }},
		{"swap, unique violation", "23505", func() error {
			if err := store.Save(ctx, "carol", canaryPair(3)); err != nil {
				return err
			}
			_, err := store.CompareAndSwap(ctx, "carol", canaryPair(3).RefreshToken, canaryPair(2))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != tc.code || !errors.Is(err, session.ErrUnavailable) {
				t.Fatalf("error %v, want a PgError %s that matches session.ErrUnavailable", err, tc.code)
			}
			if all := fmt.Sprintf("%v %+v %#v %s %s", err, err, pgErr, pgErr.Detail, pgErr.Where); strings.Contains(all, "CANARY") {
				t.Fatalf("the error holds a token: %s", all)
			}
		})
	}
}

// TestUnavailable: with no database to answer, every method fails with an
// error that matches session.ErrUnavailable (the handlers' 503) and holds
// no token. It needs no PostgreSQL.
func TestUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	pool, err := pgxpool.New(context.Background(), "postgres://u@"+addr+"/db?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store, err := pgtokens.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := canaryPair(1)
	for name, call := range map[string]func() error{
		"Load":           func() error { _, _, err := store.Load(ctx, "alice"); return err },
		"Save":           func() error { return store.Save(ctx, "alice", tok) },
		"Lease":          func() error { _, err := store.Lease(ctx, "alice", tok.RefreshToken, "h", time.Minute); return err },
		"CompareAndSwap": func() error { _, err := store.CompareAndSwap(ctx, "alice", tok.RefreshToken, tok); return err },
	} {
		err := call()
		if !errors.Is(err, session.ErrUnavailable) || !strings.HasPrefix(err.Error(), "pgtokens: ") || strings.Contains(err.Error(), "CANARY") {
			t.Errorf("%s with the database down: %v, want a pgtokens error matching session.ErrUnavailable, no token", name, err)
		}
	}
}

// TestUserIDs: an id is stored as itself; one that PostgreSQL's text
// cannot hold (a NUL byte, not UTF-8) is an error of the call, which holds
// no token.
func TestUserIDs(t *testing.T) {
	ctx := context.Background()
	pool := database(t)
	store, err := pgtokens.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range []string{"alice", "\x01ff", "ü"} {
		if err := store.Save(ctx, u, canaryPair(i)); err != nil {
			t.Fatalf("Save(%q): %v", u, err)
		}
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM bluenexus_tokens WHERE user_id = $1", u).Scan(&n); err != nil || n != 1 {
			t.Errorf("%q is not stored as itself: %d %v", u, n, err)
		}
	}
	for _, u := range []string{"a\x00b", "\xff"} {
		if err := store.Save(ctx, u, canaryPair(9)); err == nil || strings.Contains(err.Error(), "CANARY") {
			t.Errorf("Save(%q) = %v, want an error without the token", u, err)
		}
		if _, ok, err := store.Load(ctx, u); err == nil || ok {
			t.Errorf("Load(%q) = %v, %v, want an error", u, ok, err)
		}
	}
}

// TestFleet: two app instances, each with its own pool, on one table:
// 100 requests each at the moment of expiry make one token call and no
// replay.
func TestFleet(t *testing.T) {
	pool := database(t)
	schema := pool.Config().ConnConfig.RuntimeParams["search_path"]
	storetest.Fleet(t, 100, func(t *testing.T) bluenexus.TokenStore {
		cfg := pool.Config()
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
		own, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(own.Close)
		store, err := pgtokens.New(own)
		if err != nil {
			t.Fatal(err)
		}
		return store
	})
}
