package pgtokens

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/handoffkit/handoffkit/bluenexus"
	"github.com/handoffkit/handoffkit/session"
)

// New returns a [bluenexus.TokenStore] on the table bluenexus_tokens (see
// [Migrations]) of the database pool connects to, in the schema of the
// pool's search_path. Every instance of the app that shares the database
// shares the pairs and their leases. New does not query the database: a
// missing table shows as an error of the first call.
func New(pool *pgxpool.Pool) (bluenexus.TokenStore, error) {
	if pool == nil {
		return nil, errors.New("pgtokens: New: nil pool")
	}
	return &store{pool}, nil
}

// The statements of the store, the SQL of [bluenexus.TokenStore]'s
// documentation: one per method, each its own transaction; an UPDATE that
// changed one row leased or swapped.
const (
	loadSQL = `SELECT access_token, refresh_token, expires_at, refresh_expires_at, scope FROM bluenexus_tokens WHERE user_id = $1`
	saveSQL = `INSERT INTO bluenexus_tokens (user_id, access_token, refresh_token, expires_at, refresh_expires_at, scope)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id) DO UPDATE SET access_token = $2, refresh_token = $3, expires_at = $4,
	refresh_expires_at = $5, scope = $6, lease_holder = NULL, lease_until = NULL`
	leaseSQL = `UPDATE bluenexus_tokens SET lease_holder = $3, lease_until = now() + $4 * interval '1 millisecond'
WHERE user_id = $1 AND refresh_token = $2
	AND (lease_until IS NULL OR lease_until < now() OR lease_holder = $3)`
	swapSQL = `UPDATE bluenexus_tokens SET access_token = $3, refresh_token = $4, expires_at = $5,
	refresh_expires_at = $6, scope = $7, lease_holder = NULL, lease_until = NULL
WHERE user_id = $1 AND refresh_token = $2`
)

// store is New's TokenStore.
type store struct {
	pool *pgxpool.Pool
}

func (s *store) Load(ctx context.Context, user string) (bluenexus.Token, bool, error) {
	var (
		at, rt, scope string
		exp, rexp     *time.Time
	)
	err := s.pool.QueryRow(ctx, loadSQL, user).Scan(&at, &rt, &exp, &rexp, &scope)
	if errors.Is(err, pgx.ErrNoRows) {
		return bluenexus.Token{}, false, nil
	}
	if err != nil {
		return bluenexus.Token{}, false, fail("load", err)
	}
	return bluenexus.Token{
		AccessToken:   bluenexus.AccessToken(at),
		RefreshToken:  bluenexus.RefreshToken(rt),
		Expiry:        orZero(exp),
		RefreshExpiry: orZero(rexp),
		Scope:         scope,
	}, true, nil
}

func (s *store) Save(ctx context.Context, user string, tok bluenexus.Token) error {
	_, err := s.pool.Exec(ctx, saveSQL, user, tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(),
		orNull(tok.Expiry), orNull(tok.RefreshExpiry), tok.Scope)
	if err != nil {
		return fail("save", err, tok.AccessToken.Reveal(), tok.RefreshToken.Reveal())
	}
	return nil
}

func (s *store) Lease(ctx context.Context, user string, rt bluenexus.RefreshToken, holder string, ttl time.Duration) (bool, error) {
	if rt == "" {
		return false, ctx.Err() // a dead pair is never leased
	}
	tag, err := s.pool.Exec(ctx, leaseSQL, user, rt.Reveal(), holder, ttl.Milliseconds())
	if err != nil {
		return false, fail("lease", err, rt.Reveal())
	}
	return tag.RowsAffected() == 1, nil
}

func (s *store) CompareAndSwap(ctx context.Context, user string, old bluenexus.RefreshToken, next bluenexus.Token) (bool, error) {
	if old == "" {
		return false, ctx.Err()
	}
	tag, err := s.pool.Exec(ctx, swapSQL, user, old.Reveal(), next.AccessToken.Reveal(), next.RefreshToken.Reveal(),
		orNull(next.Expiry), orNull(next.RefreshExpiry), next.Scope)
	if err != nil {
		return false, fail("compare-and-swap", err, old.Reveal(), next.AccessToken.Reveal(), next.RefreshToken.Reveal())
	}
	return tag.RowsAffected() == 1, nil
}

// orNull is t for a timestamptz column, NULL for the zero time.
func orNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func orZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// fail wraps session.ErrUnavailable and err without any token: a server
// error loses its detail (which may quote a row), and an error that quotes
// a secret is replaced by its type.
func fail(op string, err error, secrets ...string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		err = &pgconn.PgError{
			Severity: pgErr.Severity, Code: pgErr.Code, Message: pgErr.Message,
			SchemaName: pgErr.SchemaName, TableName: pgErr.TableName,
			ColumnName: pgErr.ColumnName, ConstraintName: pgErr.ConstraintName,
		}
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			err = fmt.Errorf("%T (its text is withheld: it quoted a token)", err)
			break
		}
	}
	return fmt.Errorf("pgtokens: %s: %w: %w", op, session.ErrUnavailable, err)
}
