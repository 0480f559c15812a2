package pgtokens

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Option configures [New].
type Option func(*config) error

type config struct {
	table pgx.Identifier
}

// WithTable sets the table the store reads and writes, "name" or
// "schema.name"; the default is bluenexus_tokens, on the connection's
// search_path. The name is quoted as an identifier, so it is used exactly
// as given (case included). Create the table with the migration
// ([Migrations]) under that name.
func WithTable(name string) Option {
	return func(c *config) error {
		parts := strings.Split(name, ".")
		if len(parts) > 2 {
			return errors.New(`pgtokens: WithTable: want "table" or "schema.table"`)
		}
		for _, p := range parts {
			if p == "" || strings.ContainsRune(p, 0) {
				return errors.New(`pgtokens: WithTable: want "table" or "schema.table", each part non-empty`)
			}
		}
		c.table = parts
		return nil
	}
}
