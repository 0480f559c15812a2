package urlbuild

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxNext is the longest `next` path, in bytes.
const maxNext = 1024

// The reasons CheckNext gives, built once: a rejection costs no allocation
// and never quotes the value.
var (
	errNextTooLong     = fmt.Errorf("longer than %d bytes", maxNext)
	errNextNotPath     = errors.New("must start with /")
	errNextDoubleSlash = errors.New("contains //")
	errNextBackslash   = errors.New("contains a backslash")
	errNextByte        = errors.New("contains a control character, whitespace or non-ASCII byte")
	errNextBadEscape   = errors.New("malformed percent-escape")
	errNextEncoded     = errors.New("percent-encodes a slash, backslash, percent sign or control character")
)

// CheckNext reports whether next is a path on the app's own origin, safe to
// redirect to after the return: 1 to 1,024 bytes of printable ASCII, one
// leading '/', no "//", no '\', and every '%' the start of a %XX escape of
// anything but '/', '\', '%' or a control character (docs/SECURITY.md B6).
// With no encoded '%', one decoding is final: nothing is double-encoded. It
// returns nil or the reason.
func CheckNext(next string) error {
	switch {
	case len(next) > maxNext:
		return errNextTooLong
	case next == "" || next[0] != '/':
		return errNextNotPath
	case strings.ContainsFunc(next, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		return errNextByte
	case strings.IndexByte(next, '\\') >= 0:
		return errNextBackslash
	case strings.Contains(next, "//"):
		return errNextDoubleSlash
	}
	for i := strings.IndexByte(next, '%'); i >= 0; i = strings.IndexByte(next, '%') {
		if len(next) < i+3 || strings.Trim(next[i+1:i+3], "0123456789abcdefABCDEF") != "" {
			return errNextBadEscape
		}
		if b, _ := strconv.ParseUint(next[i+1:i+3], 16, 8); b == '/' || b == '\\' || b == '%' || b < ' ' || b == 0x7f {
			return errNextEncoded
		}
		next = next[i+3:]
	}
	return nil
}
