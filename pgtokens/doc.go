// Package pgtokens is a [bluenexus.TokenStore] on PostgreSQL, through a
// pgx/v5 pool: one row per user in the table bluenexus_tokens, shared by
// every instance of the app that uses the database.
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	...
//	store, err := pgtokens.New(pool)
//	...
//	tokens, err := bluenexus.NewTokenSource(client, store)
//
// # Schema
//
// The table is created by the migration migrations/001_bluenexus_tokens.sql,
// embedded as [Migrations]: give it to your migration tool, or run it at
// start (it creates the table only if it is missing). The store never
// creates or alters a table itself. The table is found on the pool's
// search_path: to keep it in a schema of its own, set search_path in the
// pool's connection string or RuntimeParams.
//
// user_id holds the app's user id as given, so the table joins with the
// app's own users: any UTF-8 text without a NUL byte. PostgreSQL refuses
// another id, and the call returns its error.
//
// # Statements
//
// Each method is one statement on the user's row, the SQL of
// [bluenexus.TokenStore]'s documentation; leases are timed by the
// database's clock (now()).
//
// # Tokens at rest
//
// The table holds the tokens in clear (docs/SECURITY.md E5): keep the
// database encrypted at rest and readable by the app's role only. An
// encrypting wrapper must encrypt the refresh token deterministically,
// since Lease and CompareAndSwap compare it in SQL. Errors never hold a
// token, and wrap [session.ErrUnavailable].
package pgtokens
