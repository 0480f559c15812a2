-- The table of github.com/handoffkit/handoffkit/pgtokens: one row per user,
-- the user's BlueNexus token pair and the lease on it while an instance of
-- the app refreshes it. Rename the table here if the store is built with
-- pgtokens.WithTable.
CREATE TABLE IF NOT EXISTS bluenexus_tokens (
	user_id            text PRIMARY KEY,
	access_token       text NOT NULL,
	refresh_token      text NOT NULL,         -- '': a dead pair, the user signs in again
	expires_at         timestamptz,           -- NULL: unknown (the zero time)
	refresh_expires_at timestamptz,           -- NULL: unknown (the zero time)
	scope              text NOT NULL DEFAULT '',
	lease_holder       text,                  -- the instance refreshing the pair, or NULL
	lease_until        timestamptz            -- when that lease runs out, by the database's clock
);
