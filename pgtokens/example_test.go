package pgtokens_test

import (
	"context"
	"io/fs"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/pgtokens"
)

// An app on PostgreSQL: the table from the migration (here run at start;
// a migration tool does it as well), the store on the app's pool, and a
// token source on it. At sign-in the app saves the pair it receives.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	schema, err := fs.ReadFile(pgtokens.Migrations, "migrations/001_bluenexus_tokens.sql")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(schema)); err != nil {
		log.Fatal(err)
	}
	store, err := pgtokens.New(pool)
	if err != nil {
		log.Fatal(err)
	}
	client, err := bluenexus.NewClient(bluenexus.WithClientCredentials(os.Getenv("BLUENEXUS_CLIENT_ID"), os.Getenv("BLUENEXUS_CLIENT_SECRET")))
	if err != nil {
		log.Fatal(err)
	}
	tokens, err := bluenexus.NewTokenSource(client, store)
	if err != nil {
		log.Fatal(err)
	}
	// handlers.Config{Tokens: tokens, ...}

	// At sign-in, with the pair BlueNexus gave the app for user:
	var user string
	var pair bluenexus.Token
	if err := tokens.Save(ctx, user, pair); err != nil {
		log.Fatal(err)
	}
}
