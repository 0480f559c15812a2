package pgtokens_test

import (
	"context"
	"crypto/rand"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffkit/handoffkit/pgtokens"
)

// realPostgresURL returns the URL of the real PostgreSQL the store is
// proved against (scripts/with-postgres.sh starts one for `make test`).
// Without one the test is skipped, loudly, except under CI=true where it
// fails.
func realPostgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("HANDOFFKIT_POSTGRES_URL")
	if url == "" {
		msg := "POSTGRES TEST NOT RUN: HANDOFFKIT_POSTGRES_URL is not set: run `make test`, or scripts/with-postgres.sh go test ./pgtokens/"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return url
}

// database returns a pool on the real PostgreSQL whose search_path is a
// schema of this test alone, dropped at cleanup, with the migration
// applied: the table bluenexus_tokens, empty.
func database(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	url := realPostgresURL(t)
	admin, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	schema := "test_" + strings.ToLower(rand.Text())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("real PostgreSQL at %s: %v", url, err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping the test's schema: %v", err)
		}
	})
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // runs before the schema is dropped
	if _, err := pool.Exec(ctx, migration(t)); err != nil {
		t.Fatalf("migration: %v", err)
	}
	return pool
}

// migration is the text of the store's migration.
func migration(t testing.TB) string {
	t.Helper()
	b, err := fs.ReadFile(pgtokens.Migrations, "migrations/001_bluenexus_tokens.sql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
