package middleware

import (
	"net/http"
	"strconv"
)

// NewSingleIPHeaderStrategy returns the strategy for a proxy that overwrites
// one header with the client IP (nginx's X-Real-IP, Cloudflare's
// CF-Connecting-IP). The header is read only when the TCP peer is in trusted
// (as for [NewXFFTrustedRangesStrategy]); its last instance must be one IP
// that is not in trusted.
func NewSingleIPHeaderStrategy(header string, trusted ...string) (Strategy, error) {
	const fn = "NewSingleIPHeaderStrategy"
	param := "header " + strconv.Quote(header)
	switch key := http.CanonicalHeaderKey(header); {
	case header == "" || tokenLen(header) != len(header):
		return nil, configError(fn, param, "not a valid header name")
	case key == xffKey:
		return nil, configError(fn, param, "a list: use NewXFFTrustedRangesStrategy or NewXFFTrustedCountStrategy")
	case key == forwardedKey:
		return nil, configError(fn, param, "a list: use NewForwardedStrategy")
	default:
		return newRangesStrategy(fn, key, true, trusted)
	}
}
