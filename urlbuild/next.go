package urlbuild

import (
	"errors"
	"fmt"

	"github.com/handoffkit/handoffkit/internal/limits"
)

// ErrUnsafeNext is returned, wrapped with the reason, by [CheckNext] for a
// next value that is not a plain local path.
var ErrUnsafeNext = errors.New("urlbuild: unsafe next path")

// The reasons CheckNext gives. They are built once so that a rejection costs
// no allocation, and never quote the value (it comes from the request).
var (
	errNextEmpty       = fmt.Errorf("%w: empty", ErrUnsafeNext)
	errNextTooLong     = fmt.Errorf("%w: longer than %d bytes", ErrUnsafeNext, limits.Next)
	errNextNotPath     = fmt.Errorf("%w: does not start with /", ErrUnsafeNext)
	errNextDoubleSlash = fmt.Errorf("%w: contains //", ErrUnsafeNext)
	errNextBackslash   = fmt.Errorf("%w: contains a backslash", ErrUnsafeNext)
	errNextByte        = fmt.Errorf("%w: contains a control character, whitespace or non-ASCII byte", ErrUnsafeNext)
	errNextBadEscape   = fmt.Errorf("%w: malformed percent-escape", ErrUnsafeNext)
	errNextEncoded     = fmt.Errorf("%w: percent-encodes a slash, backslash or control character", ErrUnsafeNext)
	errNextNested      = fmt.Errorf("%w: encoded percent signs nested more than %d deep", ErrUnsafeNext, maxDecodes)
)

// maxDecodes is how many times CheckNext decodes a percent-encoded '%'
// ("%25") to look at the layer beneath before giving up.
const maxDecodes = 2

// CheckNext reports whether next is safe to redirect to after the return: a
// path on the app's own origin (SECURITY.md B6). It returns nil or an error
// wrapping [ErrUnsafeNext].
//
// next must:
//   - be 1 to 1,024 bytes of printable ASCII with no space: no
//     control characters, tabs, newlines (browsers delete those, turning
//     "/\t/evil" into "//evil"), DEL or non-ASCII bytes. Non-ASCII, including
//     fullwidth or other look-alike slashes and dots, is rejected outright;
//     a path with non-ASCII characters must arrive percent-encoded;
//   - start with exactly one '/' and contain no "//" anywhere, so no
//     scheme-relative URL, no scheme (a scheme needs a ':' before the first
//     '/') and no authority: with no "//" and no '\', an '@' can never start
//     userinfo, so it is allowed ("/users/@alice");
//   - contain no '\' (browsers read it as '/');
//   - have only well-formed percent-escapes, none of which encodes '/', '\'
//     or a control character, at any depth: "%252f" is rejected like "%2f",
//     and "%25" nested three deep ("%252525") is rejected whatever follows.
//
// A query and a fragment are allowed ("/settings?tab=connections#google").
// Dot segments ("/a/../b") are allowed: they cannot leave the origin.
// CheckNext allocates only when next contains "%25".
func CheckNext(next string) error {
	switch {
	case next == "":
		return errNextEmpty
	case len(next) > limits.Next:
		return errNextTooLong
	case next[0] != '/':
		return errNextNotPath
	}
	escapes := false
	var prev byte
	for i := 0; i < len(next); i++ {
		c := next[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return errNextByte
		case c == '\\':
			return errNextBackslash
		case c == '/' && prev == '/':
			return errNextDoubleSlash
		case c == '%':
			escapes = true
		}
		prev = c
	}
	if !escapes {
		return nil
	}
	return checkEscapes(next, 0)
}

// checkEscapes checks the percent-escapes of s, which is next decoded depth
// times. In a decoded layer a '%' without two hex digits is a literal percent
// sign, not a malformed escape.
func checkEscapes(s string, depth int) error {
	nested := false
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			if depth == 0 {
				return errNextBadEscape
			}
			continue
		}
		switch b := unhex(s[i+1])<<4 | unhex(s[i+2]); {
		case b == '/' || b == '\\' || b < ' ' || b == 0x7f:
			return errNextEncoded
		case b == '%':
			nested = true
		}
		i += 2
	}
	if !nested {
		return nil
	}
	if depth >= maxDecodes {
		return errNextNested
	}
	return checkEscapes(unescapeOnce(s), depth+1)
}

// unescapeOnce decodes the well-formed percent-escapes of s once and leaves
// everything else as it is.
func unescapeOnce(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
