package bluenexus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/handoffkit/handoffkit/internal/obsctx"
)

const (
	tokenSkew        = 60 * time.Second      // refresh a token that expires within this (docs/SECURITY.md E4)
	loadRoom         = time.Second           // added to the client's budget for the token call
	loadTimeout      = time.Second           // bounds each store call but the saves
	saveBudget       = 20 * time.Second      // the saves of a new pair: outlasts a Redis failover
	saveBackoff      = 50 * time.Millisecond // pause n is n times this,
	saveMaxPause     = time.Second           // at most this
	leaseRoom        = 5 * time.Second       // added to the lease's life, and to a waiter's budget
	leaseTries       = 3                     // Lease calls that fail with an error
	defaultCacheSize = 10_000
)

// The events a TokenSource reports to the observer of the call's context.
const (
	eventCached    = "cached"
	eventRefreshed = "refreshed"
	eventReauth    = "reauth"
	eventRefused   = "refused"
	eventFailed    = "failed"
)

// errConflict: the store held another pair when the refreshed one was
// saved; the refreshed pair was dropped.
var errConflict = errors.New("bluenexus: another writer replaced the token pair during the refresh")

// TokenSource hands out each user's access token, refreshed once per
// rotation across every instance that shares its [TokenStore]. It is safe
// for concurrent use; docs/tokens.md says how it works.
type TokenSource struct {
	client *Client
	store  TokenStore
	users  *userCache

	flights singleflight.Group // refreshes, keyed by user (Token) or user and token (Renew)

	saveBudget time.Duration
	sleep      func(ctx context.Context, d time.Duration) error // a seam for tests
}

// TokenSourceOption configures a TokenSource.
type TokenSourceOption func(*TokenSource) error

// WithCacheSize sets how many users' pairs a TokenSource keeps in memory,
// at least 1; default 10,000.
func WithCacheSize(n int) TokenSourceOption {
	return func(s *TokenSource) error {
		if n < 1 {
			return fmt.Errorf("bluenexus: WithCacheSize: must be at least 1, got %d", n)
		}
		s.users = newUserCache(n)
		return nil
	}
}

// WithSaveBudget sets how long a TokenSource tries to save a refreshed
// pair before it is lost; make it outlast a failover of the store.
// Default 20 s.
func WithSaveBudget(d time.Duration) TokenSourceOption {
	return func(s *TokenSource) error {
		if d <= 0 {
			return fmt.Errorf("bluenexus: WithSaveBudget: must be > 0, got %v", d)
		}
		s.saveBudget = d
		return nil
	}
}

// userEntry is what a TokenSource knows about one user.
type userEntry struct {
	pair atomic.Pointer[cachedPair] // nil: nothing known, ask the store
	// rejected is the access token last reported to Renew: never served again.
	rejected atomic.Pointer[AccessToken]
	// holder may hold a lease it was never told of (its Lease or release
	// failed): the user's next flight leases as it, so that the lease is
	// used or released, not left until it runs out.
	holder atomic.Pointer[string]
}

// cachedPair is a pair as last seen.
type cachedPair struct {
	tok  Token
	dead bool // tok.RefreshToken was spent on a pair that could not be saved
}

// fresh reports whether the pair's access token may be used at now.
func (p *cachedPair) fresh(now time.Time) bool {
	return !p.dead && p.tok.AccessToken != "" && now.Before(p.tok.Expiry.Add(-tokenSkew))
}

// NewTokenSource returns a TokenSource that refreshes with c (which needs
// [WithClientCredentials]) and keeps pairs in store. It does no I/O.
func NewTokenSource(c *Client, store TokenStore, opts ...TokenSourceOption) (*TokenSource, error) {
	switch {
	case c == nil:
		return nil, errors.New("bluenexus: NewTokenSource: nil client")
	case c.creds == nil:
		return nil, errors.New("bluenexus: NewTokenSource: the client needs WithClientCredentials")
	case store == nil:
		return nil, errors.New("bluenexus: NewTokenSource: nil store")
	}
	s := &TokenSource{client: c, store: store, users: newUserCache(defaultCacheSize), saveBudget: saveBudget, sleep: sleepCtx}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("bluenexus: NewTokenSource: option %d is nil", i)
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Save stores tok, the pair BlueNexus gave the app at sign-in or
// re-authentication, as the user's pair, and drops the cached one.
func (s *TokenSource) Save(ctx context.Context, user string, tok Token) error {
	if user == "" {
		return errors.New("bluenexus: TokenSource.Save: empty user")
	}
	s.users.remove(user)
	err := s.store.Save(ctx, user, tok)
	s.users.remove(user) // a flight that ended meanwhile may have cached the older pair
	if err != nil {
		return fmt.Errorf("bluenexus: TokenSource.Save: %w", err)
	}
	return nil
}

// Token returns the user's access token, refreshing the pair first when it
// expires within 60 s. An error matching [ErrReauthRequired] means the user
// must sign in again; other errors leave the stored pair as it was.
func (s *TokenSource) Token(ctx context.Context, user string) (AccessToken, error) {
	if user == "" {
		return "", errors.New("bluenexus: TokenSource.Token: empty user")
	}
	if p := s.users.getOrAdd(user).pair.Load(); p != nil && p.fresh(s.client.now()) {
		obsctx.TokenEvent(ctx, eventCached)
		return p.tok.AccessToken, nil
	}
	return s.flight(ctx, "Token", "t"+user, user, "")
}

// Renew returns another access token than rejected, which BlueNexus
// answered 401 to: a fresh one from the store, or a refreshed one. Call it
// once per 401, never in a loop. Errors are those of [TokenSource.Token].
func (s *TokenSource) Renew(ctx context.Context, user string, rejected AccessToken) (AccessToken, error) {
	switch {
	case user == "":
		return "", errors.New("bluenexus: TokenSource.Renew: empty user")
	case rejected == "":
		return "", errors.New("bluenexus: TokenSource.Renew: empty rejected token")
	}
	e := s.users.getOrAdd(user)
	e.rejected.Store(&rejected)
	if p := e.pair.Load(); p != nil && !p.dead && p.tok.AccessToken == rejected {
		e.pair.CompareAndSwap(p, nil)
	}
	// The key holds the token, in memory only, so that reports of one
	// token share a refresh and those of another do not; the length
	// prefix keeps any two (user, token) keys apart, and the "r" those of Token.
	key := "r" + strconv.Itoa(len(user)) + ":" + user + rejected.Reveal()
	return s.flight(ctx, "Renew", key, user, rejected)
}

// flight joins or starts the refresh flight key and waits for it with ctx.
// The flight's event goes to the observer of the caller that started it,
// even if that caller stopped waiting: one refresh, one event.
func (s *TokenSource) flight(ctx context.Context, op, key, user string, rejected AccessToken) (AccessToken, error) {
	if err := ctx.Err(); err != nil {
		return "", callerGone("TokenSource."+op, err)
	}
	base := context.WithoutCancel(ctx)
	ch := s.flights.DoChan(key, func() (any, error) {
		at, event, err := s.resolve(base, user, rejected)
		obsctx.TokenEvent(base, event)
		return at, err
	})
	select {
	case r := <-ch:
		return r.Val.(AccessToken), r.Err // "" with an error
	case <-ctx.Done():
		return "", callerGone("TokenSource."+op, ctx.Err())
	}
}

// resolve is one flight: it finds the user a fresh access token other than
// rejected, from the cache, the store, or a refresh, and names the event.
// It runs on base, a context no caller can cancel. To refresh, it takes the
// lease of the stored pair, or waits for the pair that replaces it.
func (s *TokenSource) resolve(base context.Context, user string, rejected AccessToken) (AccessToken, string, error) {
	e := s.users.getOrAdd(user)
	if p := e.pair.Load(); p != nil && p.fresh(s.client.now()) && p.tok.AccessToken != rejected {
		return p.tok.AccessToken, eventCached, nil // a flight that just ended cached it
	}
	holder := rand.Text()
	if h := e.holder.Swap(nil); h != nil {
		holder = *h
	}
	unsure := false // a lease as holder may be held unreported
	defer func() {
		if unsure {
			e.holder.Store(&holder)
		}
	}()
	ttl := loadRoom + s.client.timeout + s.saveBudget + leaseRoom // the token call, the saves, and room
	wctx, cancel := context.WithTimeout(base, ttl+leaseRoom)
	defer cancel()
	var tok Token
	for n, failures := 1, 0; ; n++ {
		ctx, cancelLoad := context.WithTimeout(wctx, loadTimeout)
		next, ok, err := s.store.Load(ctx, user)
		cancelLoad()
		if err != nil {
			return "", eventFailed, fmt.Errorf("bluenexus: loading the token pair: %w", err)
		}
		if at, event, err := s.check(e, next, ok, rejected); event != "" {
			return at, event, err
		}
		// A failed Lease is tried again by the same holder: a lease whose
		// reply was lost is found again, so it is used or released.
		tok = next
		ctx, cancelLease := context.WithTimeout(wctx, loadTimeout)
		leased, err := s.store.Lease(ctx, user, tok.RefreshToken, holder, ttl)
		cancelLease()
		if leased {
			unsure = false
			break
		}
		if err != nil {
			unsure = true
			if failures++; failures == leaseTries {
				return "", eventFailed, fmt.Errorf("bluenexus: leasing the token pair: %w", err)
			}
		}
		// Wait, for the store or for the pair of the holder that is refreshing.
		if err := s.backoff(wctx, n); err != nil {
			return "", eventFailed, fmt.Errorf("bluenexus: waiting for another refresh of the token pair: %w", err)
		}
	}

	ctx, cancelCall := context.WithTimeout(base, loadRoom+s.client.timeout)
	next, err := s.client.Refresh(ctx, tok.RefreshToken)
	cancelCall()
	if err == nil {
		return s.save(base, e, user, tok, next)
	}
	if errors.Is(err, ErrReauthRequired) {
		// Refused, or spent on an answer the kit cannot use: the pair is
		// dead, for every instance and after any restart.
		if _, serr := s.swap(base, user, tok.RefreshToken, Token{}); serr != nil {
			e.pair.Store(&cachedPair{tok: tok, dead: true})
		} else {
			e.pair.Store(nil)
		}
		if errors.Is(err, ErrBadResponse) {
			return "", eventReauth, err
		}
		return "", eventRefused, err
	}
	// The token was not spent (or, unanswered, it is unknown whether it
	// was: docs/tokens.md): release the lease, keep the pair.
	rctx, cancelRelease := context.WithTimeout(base, loadTimeout)
	_, rerr := s.store.CompareAndSwap(rctx, user, tok.RefreshToken, tok)
	cancelRelease()
	unsure = rerr != nil
	return "", eventFailed, err
}

// check decides what a loaded pair allows without a token call: a token
// or an error with its event, or no event (a refresh is needed).
func (s *TokenSource) check(e *userEntry, tok Token, ok bool, rejected AccessToken) (AccessToken, string, error) {
	reauth := func(why string) (AccessToken, string, error) {
		e.pair.Store(nil)
		return "", eventReauth, fmt.Errorf("%w: %s", ErrReauthRequired, why)
	}
	if !ok {
		return reauth("no token pair is stored")
	}
	if p := e.pair.Load(); p != nil && p.dead && p.tok.RefreshToken == tok.RefreshToken {
		return "", eventReauth, fmt.Errorf("%w: the refresh token was spent on a pair that could not be saved", ErrReauthRequired)
	}
	now := s.client.now()
	r := e.rejected.Load()
	if p := (&cachedPair{tok: tok}); p.fresh(now) && tok.AccessToken != rejected && (r == nil || *r != tok.AccessToken) {
		e.pair.Store(p)
		return tok.AccessToken, eventCached, nil
	}
	switch {
	case tok.RefreshToken == "":
		return reauth("the stored pair is dead")
	case !tok.RefreshExpiry.IsZero() && !now.Before(tok.RefreshExpiry):
		return reauth("the refresh token has expired")
	}
	return "", "", nil
}

// backoff waits before try n+1 of a store call: n times saveBackoff, at
// most saveMaxPause.
func (s *TokenSource) backoff(ctx context.Context, n int) error {
	return s.sleep(ctx, min(time.Duration(n)*saveBackoff, saveMaxPause))
}

// save stores next in place of old before anyone uses it, trying again on
// errors within the save budget.
func (s *TokenSource) save(base context.Context, e *userEntry, user string, old, next Token) (AccessToken, string, error) {
	swapped, err := s.swap(base, user, old.RefreshToken, next)
	if err != nil {
		// old's refresh token is spent: remember it, so that nobody here
		// presents it again.
		e.pair.Store(&cachedPair{tok: old, dead: true})
		return "", eventFailed, fmt.Errorf("bluenexus: the refreshed token pair could not be saved: %w (%w)", err, ErrReauthRequired)
	}
	if !swapped {
		// Another writer's pair: keep it, drop ours (see docs/tokens.md).
		e.pair.Store(nil)
		return "", eventFailed, errConflict
	}
	e.pair.Store(&cachedPair{tok: next})
	return next.AccessToken, eventRefreshed, nil
}

// swap is CompareAndSwap(old → next), tried again on errors within the
// save budget. A swap whose reply was lost is found by a load.
func (s *TokenSource) swap(base context.Context, user string, old RefreshToken, next Token) (bool, error) {
	ctx, cancel := context.WithTimeout(base, s.saveBudget)
	defer cancel()
	var paused time.Duration
	for n := 1; ; n++ {
		swapped, err := s.store.CompareAndSwap(ctx, user, old, next)
		if err == nil && (swapped || n == 1) {
			return swapped, nil
		}
		if err == nil { // an earlier try that failed with an error may have landed
			tok, ok, err := s.store.Load(ctx, user)
			return err == nil && ok && tok.RefreshToken == next.RefreshToken && tok.AccessToken == next.AccessToken, nil
		}
		if paused += min(time.Duration(n)*saveBackoff, saveMaxPause); paused > s.saveBudget || s.backoff(ctx, n) != nil {
			return false, err
		}
	}
}
