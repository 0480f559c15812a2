package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
)

// ClientIP returns middleware that asks s for the client IP of each request
// and stores the address, or the reason there is none, in the request's
// context: read them with [GetClientIP] and [ClientIPError]. It never
// rewrites r.RemoteAddr, r.Host or the scheme, and never answers the request
// itself. Mount it once, before the kit's routes. With a nil s, every
// request has no client IP.
func ClientIP(s Strategy) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip, err := resolve(s, r)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, clientIP{ip, err})))
		})
	}
}

// resolve asks s, normalises its answer again and wraps a foreign error in
// ErrNoClientIP.
func resolve(s Strategy, r *http.Request) (netip.Addr, error) {
	if s == nil {
		return netip.Addr{}, errNilStrategy
	}
	ip, err := s.ClientIP(r)
	if err != nil {
		if !errors.Is(err, ErrNoClientIP) {
			err = fmt.Errorf("%w: %w", ErrNoClientIP, err)
		}
		return netip.Addr{}, err
	}
	ip, ok := normalize(ip)
	if !ok {
		return netip.Addr{}, errZeroAddr
	}
	return ip, nil
}

type clientIPKey struct{}

// clientIP is what the middleware found: the IP, or why there is none (and
// the zero IP).
type clientIP struct {
	ip  netip.Addr
	err error
}

// lookup is what [ClientIP] stored in ctx, or errNotMounted.
func lookup(ctx context.Context) clientIP {
	if c, ok := ctx.Value(clientIPKey{}).(clientIP); ok {
		return c
	}
	return clientIP{err: errNotMounted}
}

// GetClientIP returns the client IP that [ClientIP] stored in ctx, in
// canonical form. ok is false when there is none.
func GetClientIP(ctx context.Context) (ip netip.Addr, ok bool) {
	c := lookup(ctx)
	return c.ip, c.err == nil
}

// ClientIPError returns why ctx has no client IP, wrapping [ErrNoClientIP],
// or nil exactly when [GetClientIP] reports ok. It is an error too when the
// [ClientIP] middleware did not run.
func ClientIPError(ctx context.Context) error { return lookup(ctx).err }
