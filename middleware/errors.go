package middleware

import (
	"errors"
	"fmt"
)

// ErrNoClientIP is wrapped by every error that means "this request has no
// usable client IP". Branch on it with [errors.Is]; the message says
// why (an untrusted peer, no header, a malformed entry, ...). A request without a client IP must not reach
// BlueNexus: there is no fallback (SECURITY.md A6).
var ErrNoClientIP = errors.New("middleware: no client IP")

// Reasons for [ErrNoClientIP]. Each wraps ErrNoClientIP. Strategies add the
// header name to the message, never a header value: the values are
// attacker-controlled and do not belong in logs.
var (
	// errInvalidPeer: r.RemoteAddr does not parse as an IP (with or
	// without a port), or is an unspecified address.
	errInvalidPeer = fmt.Errorf("%w: TCP peer address is not an IP", ErrNoClientIP)

	// errUntrustedPeer: a header strategy was asked about a request whose
	// TCP peer is not a trusted proxy, so the header was ignored (A3).
	errUntrustedPeer = fmt.Errorf("%w: TCP peer is not a trusted proxy, header ignored", ErrNoClientIP)

	// errNoHeader: the header the strategy reads is absent.
	errNoHeader = fmt.Errorf("%w: header absent", ErrNoClientIP)

	// errInvalidEntry: the walk from the right met an entry that is not
	// exactly one valid IP before it found the client (A4).
	errInvalidEntry = fmt.Errorf("%w: malformed entry", ErrNoClientIP)

	// errAllTrusted: every entry names a trusted proxy. The leftmost entry
	// is never used as a fallback (A4).
	errAllTrusted = fmt.Errorf("%w: every entry is a trusted proxy", ErrNoClientIP)

	// errTooFewEntries: the header has fewer entries than the configured
	// proxy count (a count that is too high, or a request that bypassed a
	// proxy).
	errTooFewEntries = fmt.Errorf("%w: fewer entries than trusted proxies", ErrNoClientIP)

	// errNotMounted: [ClientIPError] was asked about a context the
	// [ClientIP] middleware never saw: a wiring mistake.
	errNotMounted = fmt.Errorf("%w: ClientIP middleware did not run", ErrNoClientIP)
)

// ErrInvalidConfig is wrapped by every construction error: a bad trusted
// range, header name or count. The message names the constructor and the
// parameter (SECURITY.md A8).
var ErrInvalidConfig = errors.New("middleware: invalid configuration")

// configError builds a construction error naming the constructor and the
// parameter at fault.
func configError(constructor, param, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s: %s", ErrInvalidConfig, constructor, param, fmt.Sprintf(format, args...))
}

// headerErrors holds one strategy's failure errors, built once at
// construction with the header name in the message, so that failing
// requests allocate nothing.
type headerErrors struct {
	untrustedPeer, noHeader, invalidEntry, allTrusted, tooFew error
}

func newHeaderErrors(header string) headerErrors {
	return headerErrors{
		untrustedPeer: fmt.Errorf("%w (%s)", errUntrustedPeer, header),
		noHeader:      fmt.Errorf("%w (%s)", errNoHeader, header),
		invalidEntry:  fmt.Errorf("%w (%s)", errInvalidEntry, header),
		allTrusted:    fmt.Errorf("%w (%s)", errAllTrusted, header),
		tooFew:        fmt.Errorf("%w (%s)", errTooFewEntries, header),
	}
}
