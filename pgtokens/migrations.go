package pgtokens

import "embed"

// Migrations holds the store's schema, migrations/001_bluenexus_tokens.sql:
// the table bluenexus_tokens, created if it does not exist. Feed it to a
// migration tool, or run it at start:
//
//	schema, err := fs.ReadFile(pgtokens.Migrations, "migrations/001_bluenexus_tokens.sql")
//	...
//	_, err = pool.Exec(ctx, string(schema))
//
//go:embed migrations/*.sql
var Migrations embed.FS
