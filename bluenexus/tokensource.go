package bluenexus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/handoffkit/handoffkit/internal/bnwire"
)

const (
	// tokenSkew: an access token that expires within this, at the moment
	// of use, is refreshed first (SECURITY.md E4).
	tokenSkew = 60 * time.Second
	// lockWait bounds the wait for the user's refresh lock: longer than
	// redisflow's 45 s lock expiry, so that a holder that died is outwaited.
	lockWait = 50 * time.Second
	// loadRoom is added to the client's budget for the reload of the pair
	// that precedes the token call under the lock; loadTimeout bounds the
	// load before the lock.
	loadRoom    = time.Second
	loadTimeout = time.Second
	// saveBudget bounds the saves of a new pair, counted from the end of
	// the token call, so that however long the lock and the call took, the
	// pair whose refresh token BlueNexus has just rotated gets this long to
	// reach the store: long enough to outlast a Redis failover or restart
	// (docs/scale.md measures up to 12 s with one replica), while the lock
	// is still held.
	saveBudget = 20 * time.Second
	// The pause before save attempt n (from 1) is n times saveBackoff, at
	// most saveMaxPause; attempts go on until saveBudget is spent, or
	// until the pauses alone would exceed it.
	saveBackoff  = 50 * time.Millisecond
	saveMaxPause = time.Second
)

// The events a TokenSource reports through bnwire.ObserveTokens.
const (
	eventCached    = "cached"
	eventRefreshed = "refreshed"
	eventReauth    = "reauth"
	eventFailed    = "failed"
)

// Errors of a TokenSource that mean the user must sign in again.
var (
	errNoPair         = fmt.Errorf("%w: TokenSource: no token pair is stored for the user", ErrReauthRequired)
	errNoRefreshToken = fmt.Errorf("%w: TokenSource: the stored pair has no refresh token", ErrReauthRequired)
	errRefreshExpired = fmt.Errorf("%w: TokenSource: the stored refresh token has expired", ErrReauthRequired)
	errKnownDead      = fmt.Errorf("%w: TokenSource: the stored refresh token no longer works "+
		"(BlueNexus refused it, or it was spent on a pair that could not be saved)", ErrReauthRequired)
)

// errConflict: the store held another pair when the refreshed one was
// saved. See TokenSource.
var errConflict = errors.New("bluenexus: TokenSource: another writer replaced the user's token pair during the refresh; " +
	"the refreshed pair was discarded and the next call uses the stored one")

// lostPairError is a refreshed pair that could not be saved: BlueNexus has
// rotated the refresh token, so the one in the store no longer works and
// the user must sign in again. It matches ErrReauthRequired and the store's
// error.
type lostPairError struct{ err error }

func (e *lostPairError) Error() string {
	return "bluenexus: the refreshed token pair could not be saved; BlueNexus has rotated the refresh token, " +
		"so the user must sign in again: " + e.err.Error()
}

func (e *lostPairError) Unwrap() []error { return []error{ErrReauthRequired, e.err} }

// TokenSource hands out each user's access token and keeps it fresh: it
// reads the pair the app stored at sign-in from a [TokenStore], refreshes
// it with [Client.Refresh] when the access token is about to expire, and
// saves the new pair before anyone uses it. Create one per process with
// [NewTokenSource] and share it; it is safe for concurrent use.
//
// Call [TokenSource.Token] before every use of the access token (handoff
// init, the Connections API), and [TokenSource.Renew] when BlueNexus
// answered 401 to it. Both return an error matching [ErrReauthRequired]
// when the user must sign in again: no pair is stored, the refresh token
// has expired, or BlueNexus refused it. Never loop on a refresh: the token
// endpoint allows 10 calls a minute.
//
// # When it refreshes
//
// Only when the access token is expired or expires within 60 s at the
// moment of use (a fixed skew), never on a timer (SECURITY.md E4). A fresh
// token is served from an in-process cache: a lock-free read without
// allocation or I/O. On a miss the pair is loaded from the store, and used
// without a refresh when it is fresh. The cache keeps an entry per user
// seen since the process started (a few hundred bytes), and is not told
// when the app deletes a pair from its store: a cached access token is
// served until it comes within 60 s of its expiry. To cut a user off at
// once, revoke the auth session at BlueNexus.
//
// # One refresh per rotation
//
// A refresh token works once (SECURITY.md E1, E2). Concurrent calls for a
// user in this process share one refresh (golang.org/x/sync/singleflight);
// if the store is a [TokenLocker], the refresh holds its lock, so that
// instances sharing the store refresh once between them. Under the lock
// the pair is loaded again, and a fresh pair another instance stored
// meanwhile is used as is. Then, in order:
//
//   - a refresh token past its RefreshExpiry, or one BlueNexus already
//     refused, is [ErrReauthRequired] without a token call;
//   - [Client.Refresh]; a refusal ([ErrReauthRequired]) is remembered, so
//     later calls for the same stored pair fail at once without a token
//     call, until the store holds another pair (the user signed in again);
//     any other error (429, 5xx, timeout, a bad response) is returned as it
//     is and leaves the stored pair untouched;
//   - the new pair is saved with CompareAndSwap on the old refresh token
//     before its access token is handed to anyone. A save that fails is
//     tried again, with pauses growing to 1 s, for 20 s: long enough for
//     a shared store to fail over or restart. If every attempt fails, the new
//     pair is dropped and the error says so: it matches ErrReauthRequired
//     and the store's error, because BlueNexus has rotated the refresh token
//     and the one in the store no longer works (presenting it again would
//     be replay). Handing out a token that was never saved would leave
//     other requests and instances with only the dead one.
//   - A CompareAndSwap that reports false means another writer stored a
//     pair while this one was refreshing: the app seeded a new sign-in, or
//     a lock expired under a holder too slow for it. The stored pair may be
//     the newer one, so it is never overwritten, and the refreshed pair is
//     dropped (the store does not hold it, so nothing else would find it);
//     the call returns an error that matches no sentinel, and the next call
//     uses the stored pair. With a TokenLocker whose expiry outlasts the
//     hold (see below) and an app that seeds only users without a pair,
//     this cannot happen.
//
// # Time budget
//
// Callers wait for a shared refresh with their own context: one that ends
// returns at once (a cancellation wraps [context.Canceled]; a deadline is
// [ErrTimeout]). The refresh itself runs on [context.WithoutCancel] of the
// first caller's context, so a caller leaving never aborts a refresh whose
// new pair must be saved, within budgets of its own: at most 50 s to take
// the lock, then the client's budget ([WithTimeout], 5 s by default) plus
// 1 s for the reload and the token call, then 20 s for the saves. The lock
// is therefore held for at most the client's budget plus 21 s.
//
// # Secrets
//
// No token appears in an error or an event. Errors of the store are
// returned wrapped, so a store must keep tokens out of its errors too.
type TokenSource struct {
	client *Client
	store  TokenStore

	users  sync.Map           // user → *userEntry
	tokens singleflight.Group // refreshes of Token, keyed by user
	renews singleflight.Group // refreshes of Renew, keyed by renewKey

	observe atomic.Pointer[func(event string)] // bnwire.ObserveTokens

	// Seams for tests.
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	lockWait time.Duration
}

// userEntry is what a TokenSource knows about one user.
type userEntry struct {
	pair atomic.Pointer[cachedPair] // nil: nothing known, ask the store
	// rejected is the access token last reported to Renew: never served
	// again, even while the store still holds it.
	rejected atomic.Pointer[AccessToken]
	// sem serialises this user's refreshes in the process: a Token and a
	// Renew (or two Renews of different tokens) are separate flights.
	sem chan struct{}
}

// isRejected reports whether at was reported to Renew.
func (e *userEntry) isRejected(at AccessToken) bool {
	r := e.rejected.Load()
	return r != nil && *r == at
}

// cachedPair is a pair as last seen, with the moment it goes stale.
type cachedPair struct {
	tok     Token
	staleAt time.Time // tok.Expiry - tokenSkew
	// dead: tok.RefreshToken no longer works (BlueNexus refused it, or it
	// was spent on a pair that could not be saved). Never served.
	dead bool
}

func newCachedPair(tok Token, dead bool) *cachedPair {
	return &cachedPair{tok: tok, staleAt: tok.Expiry.Add(-tokenSkew), dead: dead}
}

// fresh reports whether the pair's access token may be used at now.
func (p *cachedPair) fresh(now time.Time) bool {
	return !p.dead && p.tok.AccessToken != "" && now.Before(p.staleAt)
}

// init sets bnwire.ObserveTokens: the handlers attach their metrics to a
// TokenSource, and users have no need to.
func init() {
	bnwire.SetTokenClock = func(s any, now func() time.Time) {
		ts, ok := s.(*TokenSource)
		if !ok || ts == nil || now == nil {
			panic(fmt.Sprintf("bnwire.SetTokenClock: %T is not a non-nil *bluenexus.TokenSource, or a nil clock", s))
		}
		ts.now = now
		ts.client.now = now // the expiry of a refreshed pair counts from the send time
	}
	bnwire.ObserveTokens = func(s any, fn func(event string)) {
		ts, ok := s.(*TokenSource)
		if !ok || ts == nil {
			panic(fmt.Sprintf("bnwire.ObserveTokens: %T is not a non-nil *bluenexus.TokenSource", s))
		}
		if fn == nil {
			ts.observe.Store(nil)
			return
		}
		ts.observe.Store(&fn)
	}
}

// NewTokenSource returns a TokenSource that refreshes with c (which needs
// [WithClientCredentials]) and keeps pairs in store. Use one per process:
// two TokenSources on one store that is not a [TokenLocker] can spend a
// refresh token twice. It does no I/O.
func NewTokenSource(c *Client, store TokenStore) (*TokenSource, error) {
	switch {
	case c == nil:
		return nil, errors.New("bluenexus: NewTokenSource: nil client")
	case c.creds == nil:
		return nil, errors.New("bluenexus: NewTokenSource: the client has no credentials to refresh with: configure WithClientCredentials")
	case store == nil:
		return nil, errors.New("bluenexus: NewTokenSource: nil store")
	}
	s := &TokenSource{client: c, store: store, now: time.Now, sleep: sleepCtx, lockWait: lockWait}
	return s, nil
}

// Token returns the user's access token, refreshing the pair first when the
// access token is expired or expires within 60 s. user is the id the app
// stored the pair under; it must not be empty.
//
// It fails with an error matching [ErrReauthRequired] when the user must
// sign in again: no pair is stored (the user never signed in, or the pair
// was removed), the refresh token has expired, or BlueNexus refused it. A
// refresh that fails otherwise returns the client's error (an
// [*APIError] for 429 or 5xx, [ErrTimeout], ...) or the store's, and the
// stored pair is left as it was: try again later.
func (s *TokenSource) Token(ctx context.Context, user string) (AccessToken, error) {
	if v, ok := s.users.Load(user); ok {
		if p := v.(*userEntry).pair.Load(); p != nil && p.fresh(s.now()) {
			s.emit(eventCached)
			return p.tok.AccessToken, nil
		}
	}
	if user == "" {
		return "", errors.New("bluenexus: TokenSource.Token: empty user")
	}
	return s.flight(ctx, "Token", &s.tokens, user, user, "")
}

// Renew is for an access token that BlueNexus answered 401 to: it drops
// rejected from the cache (and Token no longer serves it, even while the
// store still holds it) and refreshes the user's pair, once however many
// callers report the same token. If the store already holds
// another access token that is fresh (another request or instance renewed
// it), that one is returned without a token call. Errors are those of
// [TokenSource.Token]. Call it once per 401, never in a loop: a 401 to the
// token Renew returned means the session is gone, and the next Renew will
// say so.
func (s *TokenSource) Renew(ctx context.Context, user string, rejected AccessToken) (AccessToken, error) {
	switch {
	case user == "":
		return "", errors.New("bluenexus: TokenSource.Renew: empty user")
	case rejected == "":
		return "", errors.New("bluenexus: TokenSource.Renew: empty rejected token")
	}
	e := s.entry(user)
	e.rejected.Store(&rejected)
	if p := e.pair.Load(); p != nil && !p.dead && p.tok.AccessToken == rejected {
		e.pair.CompareAndSwap(p, nil)
	}
	// The key holds the token, in memory only, so that reports of one
	// token share a refresh and those of another do not; the length
	// prefix keeps any two (user, token) keys apart.
	key := strconv.Itoa(len(user)) + ":" + user + rejected.Reveal()
	return s.flight(ctx, "Renew", &s.renews, key, user, rejected)
}

// flight joins or starts the refresh flight key of g and waits for it with
// ctx.
func (s *TokenSource) flight(ctx context.Context, op string, g *singleflight.Group, key, user string, rejected AccessToken) (AccessToken, error) {
	if err := ctx.Err(); err != nil {
		return "", callerGone(op, err)
	}
	base := context.WithoutCancel(ctx)
	ch := g.DoChan(key, func() (any, error) { return s.resolve(base, user, rejected) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(AccessToken), nil
	case <-ctx.Done():
		return "", callerGone(op, ctx.Err())
	}
}

// callerGone describes a caller that stopped waiting, as the Client does:
// a deadline is ErrTimeout, a cancellation only wraps context.Canceled.
func callerGone(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: TokenSource.%s: the caller's deadline passed: %w", ErrTimeout, op, err)
	}
	return fmt.Errorf("bluenexus: TokenSource.%s: %w", op, err)
}

// entry returns the user's entry, creating it.
func (s *TokenSource) entry(user string) *userEntry {
	if v, ok := s.users.Load(user); ok {
		return v.(*userEntry)
	}
	v, _ := s.users.LoadOrStore(user, &userEntry{sem: make(chan struct{}, 1)})
	return v.(*userEntry)
}

// emit reports an event to the observer, if any.
func (s *TokenSource) emit(event string) {
	if fn := s.observe.Load(); fn != nil {
		(*fn)(event)
	}
}

// resolve is one flight: it finds the user a fresh access token other than
// rejected, from the cache, the store, or a refresh. It runs on base, a
// context no caller can cancel.
func (s *TokenSource) resolve(base context.Context, user string, rejected AccessToken) (AccessToken, error) {
	e := s.entry(user)
	if p := e.pair.Load(); p != nil && p.fresh(s.now()) && p.tok.AccessToken != rejected {
		s.emit(eventCached) // a flight that just ended cached it
		return p.tok.AccessToken, nil
	}
	ctx, cancel := context.WithTimeout(base, loadTimeout)
	tok, ok, err := s.store.Load(ctx, user)
	cancel()
	if err != nil {
		s.emit(eventFailed)
		return "", fmt.Errorf("bluenexus: TokenSource: loading the user's token pair: %w", err)
	}
	if at, done, err := s.check(e, tok, ok, rejected); done {
		return at, err
	}
	return s.refresh(base, e, user, rejected)
}

// check decides what a loaded pair allows without a token call: done with
// a token or an error, or not done (a refresh is needed).
func (s *TokenSource) check(e *userEntry, tok Token, ok bool, rejected AccessToken) (AccessToken, bool, error) {
	reauth := func(err error, dead bool) (AccessToken, bool, error) {
		if dead {
			e.pair.Store(newCachedPair(tok, true))
		} else {
			e.pair.Store(nil)
		}
		s.emit(eventReauth)
		return "", true, err
	}
	if !ok {
		return reauth(errNoPair, false)
	}
	if p := e.pair.Load(); p != nil && p.dead && p.tok.RefreshToken == tok.RefreshToken {
		return reauth(errKnownDead, true)
	}
	now := s.now()
	if p := newCachedPair(tok, false); p.fresh(now) && tok.AccessToken != rejected && !e.isRejected(tok.AccessToken) {
		e.pair.Store(p)
		s.emit(eventCached)
		return tok.AccessToken, true, nil
	}
	switch {
	case tok.RefreshToken == "":
		return reauth(errNoRefreshToken, true)
	case !tok.RefreshExpiry.IsZero() && !now.Before(tok.RefreshExpiry):
		return reauth(errRefreshExpired, true)
	}
	return "", false, nil
}

// refresh takes the user's locks, loads the pair again and, if it still
// needs one, refreshes it and saves the new pair.
func (s *TokenSource) refresh(base context.Context, e *userEntry, user string, rejected AccessToken) (AccessToken, error) {
	lctx, cancel := context.WithTimeout(base, s.lockWait)
	defer cancel()
	select {
	case e.sem <- struct{}{}:
	case <-lctx.Done():
		s.emit(eventFailed)
		return "", fmt.Errorf("bluenexus: TokenSource: another refresh of the user's pair in this process "+
			"outlasted the wait of %v, so no refresh was attempted: %w", s.lockWait, lctx.Err())
	}
	defer func() { <-e.sem }()

	ctx, cancelCall := context.WithTimeout(base, loadRoom+s.client.timeout)
	defer cancelCall()
	tok, ok, err := s.store.Load(ctx, user)
	if err != nil {
		s.emit(eventFailed)
		return "", fmt.Errorf("bluenexus: TokenSource: loading the user's token pair: %w", err)
	}
	if at, done, err := s.check(e, tok, ok, rejected); done {
		return at, err
	}
	next, err := s.client.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		if errors.Is(err, ErrReauthRequired) {
			e.pair.Store(newCachedPair(tok, true))
			s.emit(eventReauth)
		} else {
			s.emit(eventFailed)
		}
		return "", err
	}
	return s.save(base, e, user, tok, next)
}

// save stores next in place of old before anyone uses it, trying again on
// errors within saveBudget.
func (s *TokenSource) save(base context.Context, e *userEntry, user string, old, next Token) (AccessToken, error) {
	ctx, cancel := context.WithTimeout(base, saveBudget)
	defer cancel()
	var err error
	var paused time.Duration
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			pause := min(time.Duration(attempt)*saveBackoff, saveMaxPause)
			if paused += pause; paused > saveBudget || s.sleep(ctx, pause) != nil {
				break
			}
		}
		var swapped bool
		if swapped, err = s.store.CompareAndSwap(ctx, user, old.RefreshToken, next); err != nil {
			continue
		}
		if !swapped && !s.holds(ctx, user, next.RefreshToken) {
			// Another writer's pair: keep it, drop ours (see TokenSource).
			e.pair.Store(nil)
			s.emit(eventFailed)
			return "", errConflict
		}
		e.pair.Store(newCachedPair(next, false))
		s.emit(eventRefreshed)
		return next.AccessToken, nil
	}
	if err == nil {
		err = ctx.Err()
	}
	// old's refresh token is spent: remember it, so that nobody presents
	// it again.
	e.pair.Store(newCachedPair(old, true))
	s.emit(eventFailed)
	return "", &lostPairError{err}
}

// holds reports whether the store holds the pair of refresh token rt: a
// save that failed with an error may have landed before a retry found it
// there.
func (s *TokenSource) holds(ctx context.Context, user string, rt RefreshToken) bool {
	tok, ok, err := s.store.Load(ctx, user)
	return err == nil && ok && tok.RefreshToken == rt
}
