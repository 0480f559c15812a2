package middleware

const xffKey = "X-Forwarded-For"

// NewXFFTrustedRangesStrategy returns the strategy for proxies whose
// addresses are known: the client is the rightmost X-Forwarded-For entry that
// is not in trusted, and the header is read only when the TCP peer is in
// trusted. trusted holds CIDRs ("10.0.0.0/8") or single IPs ("::1"); it must
// not be empty or hold a /0. Errors wrap [ErrInvalidConfig].
//
// No strategy counts proxies instead: a fixed count cannot check the TCP
// peer, so anyone who can reach the server directly could forge the client
// IP. For proxies whose addresses cannot be listed, docs/client-ip.md shows
// chi's ClientIPFromXFFTrustedProxies through handlers.WithClientIP.
func NewXFFTrustedRangesStrategy(trusted ...string) (Strategy, error) {
	return newRangesStrategy("NewXFFTrustedRangesStrategy", xffKey, false, trusted)
}

func newRangesStrategy(constructor, key string, single bool, trusted []string) (Strategy, error) {
	t, err := parseTrusted(constructor, trusted)
	if err != nil {
		return nil, err
	}
	return &headerStrategy{key: key, trusted: t, single: single, name: key + ", trusted ranges", errs: newHeaderErrors(key)}, nil
}
