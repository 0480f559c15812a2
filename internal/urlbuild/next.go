package urlbuild

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/handoffkit/handoffkit/internal/limits"
)

// The reasons CheckNext gives, built once: a rejection costs no allocation
// and never quotes the value.
var (
	errNextTooLong     = fmt.Errorf("longer than %d bytes", limits.Next)
	errNextNotPath     = errors.New("must start with /")
	errNextDoubleSlash = errors.New("contains //")
	errNextBackslash   = errors.New("contains a backslash")
	errNextByte        = errors.New("contains a control character, whitespace or non-ASCII byte")
	errNextBadEscape   = errors.New("malformed percent-escape")
	errNextEncoded     = errors.New("percent-encodes a slash, backslash or control character")
	errNextNested      = errors.New("percent-escapes nested too deep")
)

// maxDecodes is how many layers of encoded '%' ("%25") CheckNext decodes.
const maxDecodes = 2

// CheckNext reports whether next is a path on the app's own origin, safe to
// redirect to after the return: 1 to 1,024 bytes of printable ASCII, one
// leading '/', no "//", no '\', and no percent-escape of '/', '\' or a
// control character at any depth (docs/SECURITY.md B6). It returns nil or
// the reason.
func CheckNext(next string) error {
	switch {
	case len(next) > limits.Next:
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
	return checkEscapes(next, 0)
}

// checkEscapes checks the percent-escapes of s, which is next decoded depth
// times. Below the top layer a '%' without two hex digits is literal.
func checkEscapes(s string, depth int) error {
	nested := false
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		b, ok := escapeAt(s, i)
		switch {
		case !ok && depth == 0:
			return errNextBadEscape
		case !ok:
			continue
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
	decoded := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if b, ok := escapeAt(s, i); ok {
			decoded = append(decoded, b)
			i += 2
		} else {
			decoded = append(decoded, s[i])
		}
	}
	return checkEscapes(string(decoded), depth+1)
}

// escapeAt decodes the percent-escape at s[i], if s[i:i+3] is one.
func escapeAt(s string, i int) (byte, bool) {
	if s[i] != '%' || i+2 >= len(s) {
		return 0, false
	}
	b, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
	return byte(b), err == nil
}
