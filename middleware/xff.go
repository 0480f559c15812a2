package middleware

import "strconv"

const xffKey = "X-Forwarded-For"

// NewXFFTrustedRangesStrategy returns the strategy for proxies whose
// addresses are known: the client is the rightmost X-Forwarded-For entry that
// is not in trusted, and the header is read only when the TCP peer is in
// trusted. trusted holds CIDRs ("10.0.0.0/8") or single IPs ("::1"); it must
// not be empty or hold a /0. Errors wrap [ErrInvalidConfig].
func NewXFFTrustedRangesStrategy(trusted ...string) (Strategy, error) {
	return newRangesStrategy("NewXFFTrustedRangesStrategy", xffKey, false, trusted)
}

// NewXFFTrustedCountStrategy returns the strategy for count proxies whose
// addresses are not known (a load balancer of a cloud platform): the client
// is the count-th X-Forwarded-For entry from the right. It cannot check the
// TCP peer, so the network must let only the proxies reach the server.
// count must be at least 1.
func NewXFFTrustedCountStrategy(count int) (Strategy, error) {
	if count < 1 {
		return nil, configError("NewXFFTrustedCountStrategy", "count", "must be at least 1, got "+strconv.Itoa(count))
	}
	return &headerStrategy{key: xffKey, count: count, name: xffKey + ", " + strconv.Itoa(count) + " trusted proxies", errs: newHeaderErrors(xffKey)}, nil
}

func newRangesStrategy(constructor, key string, single bool, trusted []string) (Strategy, error) {
	t, err := parseTrusted(constructor, trusted)
	if err != nil {
		return nil, err
	}
	return &headerStrategy{key: key, trusted: t, single: single, name: key + ", trusted ranges", errs: newHeaderErrors(key)}, nil
}
