package middleware

import (
	"errors"
	"fmt"
)

// ErrNoClientIP is wrapped by every error that means the request has no
// usable client IP; the message says why and names the header, never a
// header value. Such a request must not reach BlueNexus (docs/SECURITY.md A6).
var ErrNoClientIP = errors.New("middleware: no client IP")

// The reasons for ErrNoClientIP (docs/client-ip.md section 3).
var (
	errInvalidPeer   = fmt.Errorf("%w: TCP peer address is not an IP", ErrNoClientIP)
	errUntrustedPeer = fmt.Errorf("%w: TCP peer is not a trusted proxy, header ignored", ErrNoClientIP)
	errNoHeader      = fmt.Errorf("%w: header absent", ErrNoClientIP)
	errInvalidEntry  = fmt.Errorf("%w: malformed entry", ErrNoClientIP)
	errAllTrusted    = fmt.Errorf("%w: every entry is a trusted proxy", ErrNoClientIP)
	errNotMounted    = fmt.Errorf("%w: ClientIP middleware did not run", ErrNoClientIP)
	errNilStrategy   = fmt.Errorf("%w: ClientIP was given a nil Strategy", ErrNoClientIP)
	errZeroAddr      = fmt.Errorf("%w: strategy returned an invalid address", ErrNoClientIP)
)

// headerErrors holds a strategy's reasons with its header name, built once
// so that a failing request allocates nothing.
type headerErrors struct {
	untrustedPeer, noHeader, invalidEntry, allTrusted error
}

func newHeaderErrors(header string) headerErrors {
	e := func(reason error) error { return fmt.Errorf("%w (%s)", reason, header) }
	return headerErrors{e(errUntrustedPeer), e(errNoHeader), e(errInvalidEntry), e(errAllTrusted)}
}

// ErrInvalidConfig is wrapped by every error of a strategy constructor; the
// message names the constructor and the parameter (docs/SECURITY.md A8).
var ErrInvalidConfig = errors.New("middleware: invalid configuration")

func configError(constructor, param, reason string) error {
	return fmt.Errorf("%w: %s: %s: %s", ErrInvalidConfig, constructor, param, reason)
}
