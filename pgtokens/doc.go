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
// creates or alters a table itself. [WithTable] names another table.
//
// user_id holds the app's user id as given, so the table joins with the
// app's own users. An id that text cannot hold (with a NUL byte, or not
// UTF-8), or that begins with byte 0x01, is stored as 0x01 followed by the
// id in hexadecimal.
//
// # Statements
//
// Each method is one statement, its own transaction, on the user's row:
// Load a SELECT; Save an INSERT ... ON CONFLICT (user_id) DO UPDATE that
// clears the lease; Lease and CompareAndSwap an UPDATE whose WHERE clause
// compares the stored refresh token (and, for Lease, that the lease is
// free, run out or the holder's own), so that they succeed when exactly
// one row changed. Leases are timed by the database's clock (now()), so
// instances whose clocks disagree still agree on when a lease runs out.
// A dead pair (an empty refresh token) is never leased.
//
// # Tokens at rest
//
// The table holds the access and refresh tokens in clear (SECURITY.md E5).
// Protecting them at rest is the app's part: keep the database on an
// encrypted volume (or a managed database encrypted at rest), let only the
// app's role read the table, and treat backups like the database. To
// encrypt the columns as well, wrap the store in a TokenStore of your own
// that encrypts the tokens on the way in and decrypts them on the way out;
// the refresh token must encrypt deterministically (the same token, the
// same ciphertext, as with AES-SIV), because Lease and CompareAndSwap
// compare it in SQL. A refresh token buys access tokens for its whole
// life: guard it like a password hash or better.
//
// The store never logs. Its errors never hold a token: a server's error
// keeps its code and message, never its detail (which may quote a row),
// and an error that quotes a token anyway is replaced by its type. Every
// error of its methods wraps [session.ErrUnavailable], which the kit's
// handlers answer with 503: with the database down the kit refreshes
// nothing.
package pgtokens
