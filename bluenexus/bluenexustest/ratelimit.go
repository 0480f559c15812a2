package bluenexustest

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// The published rate limits (BLUENEXUS.md sections 1 and 6), per minute.
const (
	apiPerMinute   = 100
	tokenPerMinute = 10
	ratePeriod     = time.Minute
)

// maxRateWindows bounds the windows on record; beyond it, ended ones are
// dropped.
const maxRateWindows = 10_000

// rateKey names one counter: a limit's bucket and the client it counts.
type rateKey struct {
	token bool // the token endpoint's own limit
	ip    netip.Addr
}

// rateWindow is a fixed window of one minute from its first request.
type rateWindow struct {
	start time.Time
	n     int
}

// rateLimited counts the request against its limit (WithRateLimits) and,
// beyond it, answers 429 with Retry-After and reports true.
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request) bool {
	ip, _ := peerIP(r)
	key := rateKey{token: r.URL.Path == PathToken, ip: ip}
	limit := apiPerMinute
	if key.token {
		limit = tokenPerMinute
	}
	s.mu.Lock()
	now := s.now()
	win := s.windows[key]
	if win == nil || !now.Before(win.start.Add(ratePeriod)) {
		if len(s.windows) >= maxRateWindows {
			for k, old := range s.windows {
				if !now.Before(old.start.Add(ratePeriod)) {
					delete(s.windows, k)
				}
			}
		}
		win = &rateWindow{start: now}
		s.windows[key] = win
	}
	win.n++
	over := win.n > limit
	left := win.start.Add(ratePeriod).Sub(now)
	s.mu.Unlock()
	if !over {
		return false
	}
	secs := max(1, int64(math.Ceil(left.Seconds())))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeError(w, http.StatusTooManyRequests, "Rate limit exceeded", nil)
	return true
}
