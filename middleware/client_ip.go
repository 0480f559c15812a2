package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
)

// ClientIP returns middleware that asks s for the client IP of each request
// and stores the answer, or its absence with the reason, in the request's
// context. Read it with [GetClientIP] and [ClientIPError].
//
// It never rewrites r.RemoteAddr, r.Host or the scheme (SECURITY.md A7; chi
// deprecated its RealIP for doing so): the next handler gets a derived
// request (r.WithContext). It never answers the request itself either: a
// request without a client IP still reaches next, which must refuse to call
// BlueNexus (A6). Mount it once, early, after nothing that rewrites
// RemoteAddr or the forwarding headers.
//
// Whatever s returns is normalised again (IPv4-mapped IPv6 unmapped, zone
// dropped); a zero or unspecified address is treated as no IP, and an error
// that does not wrap [ErrNoClientIP] is wrapped so that it does.
//
// Cost: two allocations per request (the derived request and one context
// value holding the address by value), none in the built-in strategies.
// ClientIP panics if s is nil.
func ClientIP(s Strategy) func(http.Handler) http.Handler {
	if s == nil {
		panic("middleware: ClientIP: nil Strategy")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var c clientIP
			c.ip, c.err = resolve(s, r)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, &c)))
		})
	}
}

// errZeroAddr reports a custom Strategy that returned no address and no
// error.
var errZeroAddr = fmt.Errorf("%w: strategy returned an invalid address", ErrNoClientIP)

func resolve(s Strategy, r *http.Request) (netip.Addr, error) {
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

// clientIPKey is the context key of the ClientIP result.
type clientIPKey struct{}

// clientIP is what the middleware found for a request: the IP, or why
// there is none.
type clientIP struct {
	ip  netip.Addr
	err error
}

func lookup(ctx context.Context) (*clientIP, bool) {
	if ctx == nil {
		return nil, false
	}
	c, ok := ctx.Value(clientIPKey{}).(*clientIP)
	return c, ok
}

// GetClientIP returns the client IP that [ClientIP] stored in ctx (or in a
// context derived from it). ok is false when no IP was found or the
// middleware did not run; [ClientIPError] then says which. The address is
// canonical: its String method gives the text to forward.
func GetClientIP(ctx context.Context) (ip netip.Addr, ok bool) {
	c, found := lookup(ctx)
	if !found || c.err != nil {
		return netip.Addr{}, false
	}
	return c.ip, true
}

// ClientIPError returns why ctx has no client IP: nil exactly when
// [GetClientIP] reports ok. It is the strategy's error (wrapping
// [ErrNoClientIP] and one of its reasons) when the middleware ran without
// finding an IP, and errNotMounted when the [ClientIP] middleware never
// saw the request. The message never contains header values.
func ClientIPError(ctx context.Context) error {
	c, found := lookup(ctx)
	if !found {
		return errNotMounted
	}
	return c.err
}
