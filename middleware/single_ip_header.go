package middleware

import (
	"net/http"
	"strconv"
	"strings"
)

// tchars are the characters of an RFC 9110 token, such as a header name.
const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewSingleIPHeaderStrategy returns the strategy for a proxy that overwrites
// one header with the client IP (nginx's X-Real-IP, Cloudflare's
// CF-Connecting-IP). The header is read only when the TCP peer is in trusted
// (as for [NewXFFTrustedRangesStrategy]); its last instance must be one IP
// that is not in trusted.
func NewSingleIPHeaderStrategy(header string, trusted ...string) (Strategy, error) {
	const fn = "NewSingleIPHeaderStrategy"
	param := "header " + strconv.Quote(header)
	switch key := http.CanonicalHeaderKey(header); {
	case header == "" || strings.Trim(header, tchars) != "":
		return nil, configError(fn, param, "not a valid header name")
	case key == xffKey || key == "Forwarded":
		return nil, configError(fn, param, "a list: use NewXFFTrustedRangesStrategy")
	default:
		return newRangesStrategy(fn, key, true, trusted)
	}
}
